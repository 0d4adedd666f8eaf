/* Chat template tests: for every built-in family, the prompt for a three-message conversation
 * (system, user, assistant) equals the string written here by hand from the model card's
 * documented format (BOS left to the tokenizer); the generation prompt after a further user
 * message; template recognition from real/official template texts (Phi-3's is read from the
 * bundled phi-3 vocabulary); the rendered Phi-3 prompt tokenizes to its special tokens; and the
 * CLI: `tern chat -st` answers greedily exactly what `tern run` continues the rendered prompt
 * with, interactive `tern chat` answers two stdin messages in turn feeding only unseen text, and `tern tokenize --ids` gives transformers' ids for the reference prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat_template.h"
#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"
#include "testutil.h"

#define SYS "You are a helpful assistant."
#define USR "Hello!"
#define ASS "Hi! How can I help?"
#define USR2 "Tell me a joke."
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static const tn_chat_msg conv[] = {
    {"system", SYS}, {"user", USR}, {"assistant", ASS}, {"user", USR2}};

static const struct {
    const char *name;
    const char *three; /* system, user, assistant; no generation prompt */
    const char *tail;  /* end of the four-message prompt with the generation prompt */
} cases[] = {
    /* Qwen / ChatML */
    {"chatml",
     "<|im_start|>system\n" SYS "<|im_end|>\n<|im_start|>user\n" USR "<|im_end|>\n"
     "<|im_start|>assistant\n" ASS "<|im_end|>\n",
     "<|im_start|>user\n" USR2 "<|im_end|>\n<|im_start|>assistant\n"},
    /* Meta Llama 3 model card ("<|begin_of_text|>" is the BOS) */
    {"llama3",
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\n" USR "<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n" ASS "<|eot_id|>",
     "<|start_header_id|>user<|end_header_id|>\n\n" USR2 "<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    /* Llama 2 chat: <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s> */
    {"llama2", "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\n" USR " [/INST] " ASS " </s>",
     " </s><s>[INST] " USR2 " [/INST]"},
    /* Mistral instruct: <s>[INST] Instruction [/INST] Model answer</s>[INST] Follow-up [/INST] */
    {"mistral", "[INST] " SYS "\n\n" USR " [/INST] " ASS "</s>",
     "</s>[INST] " USR2 " [/INST]"},
    /* Gemma: no system role, it goes before the first user message */
    {"gemma",
     "<start_of_turn>user\n" SYS "\n\n" USR "<end_of_turn>\n<start_of_turn>model\n" ASS
     "<end_of_turn>\n",
     "<start_of_turn>user\n" USR2 "<end_of_turn>\n<start_of_turn>model\n"},
    /* Phi-3 */
    {"phi3",
     "<|system|>\n" SYS "<|end|>\n<|user|>\n" USR "<|end|>\n<|assistant|>\n" ASS "<|end|>\n",
     "<|user|>\n" USR2 "<|end|>\n<|assistant|>\n"},
    /* DeepSeek LLM chat / V2: User: {user}\n\nAssistant: {answer}<｜end▁of▁sentence｜> */
    {"deepseek2", SYS "\n\nUser: " USR "\n\nAssistant: " ASS DS_EOS,
     DS_EOS "User: " USR2 "\n\nAssistant:"},
    /* DeepSeek V3 / R1 */
    {"deepseek3",
     SYS "<\xef\xbd\x9cUser\xef\xbd\x9c>" USR "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>" ASS DS_EOS,
     "<\xef\xbd\x9cUser\xef\xbd\x9c>" USR2 "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"},
    /* DeepSeek Coder instruct */
    {"deepseek-coder",
     SYS "### Instruction:\n" USR "\n### Response:\n" ASS "\n<|EOT|>\n",
     "\n<|EOT|>\n### Instruction:\n" USR2 "\n### Response:\n"},
};

static bool ends_with(const char *s, const char *t) {
    size_t n = strlen(s), m = strlen(t);
    return n >= m && memcmp(s + n - m, t, m) == 0;
}

static void test_formats(void) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tn_chat_family f = tn_chat_family_from_name(cases[i].name);
        CHECK(f != TN_CHAT_UNKNOWN && strcmp(tn_chat_family_name(f), cases[i].name) == 0,
              "family %s", cases[i].name);
        char *s = tn_chat_format(f, conv, 3, false);
        bool ok = s && strcmp(s, cases[i].three) == 0;
        CHECK(ok, "%s: three-message prompt", cases[i].name);
        if (!ok) fprintf(stderr, "  got  '%s'\n  want '%s'\n", s ? s : tn_last_error(), cases[i].three);
        /* the four-message prompt extends the three-message one */
        char *s4 = tn_chat_format(f, conv, 4, true);
        ok = s && s4 && strncmp(s4, s, strlen(s) - (strcmp(cases[i].name, "llama2") == 0 ? 5 : 0)) == 0 &&
             ends_with(s4, cases[i].tail);
        CHECK(ok, "%s: four messages + generation prompt", cases[i].name);
        if (!ok) fprintf(stderr, "  got '%s'\n  want tail '%s'\n", s4 ? s4 : "", cases[i].tail);
        free(s);
        free(s4);
    }
    /* Llama 3 and Gemma trim contents, ChatML keeps them */
    tn_chat_msg padded[] = {{"user", "  hi \n"}};
    char *s = tn_chat_format(TN_CHAT_LLAMA3, padded, 1, false);
    CHECK(s && strcmp(s, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>") == 0,
          "llama3 trims");
    free(s);
    s = tn_chat_format(TN_CHAT_CHATML, padded, 1, false);
    CHECK(s && strcmp(s, "<|im_start|>user\n  hi \n<|im_end|>\n") == 0, "chatml keeps spaces");
    free(s);
    /* errors */
    tn_chat_msg tool[] = {{"tool", "x"}};
    s = tn_chat_format(TN_CHAT_GEMMA, tool, 1, false);
    CHECK(!s && strstr(tn_last_error(), "tool"), "gemma has no tool role: %s", tn_last_error());
    s = tn_chat_format(TN_CHAT_UNKNOWN, conv, 1, false);
    CHECK(!s, "unknown family");
    s = tn_chat_format(TN_CHAT_CHATML, conv, 0, true);
    CHECK(s && strcmp(s, "<|im_start|>assistant\n") == 0, "empty conversation");
    free(s);
    CHECK(tn_chat_family_from_name("qwen") == TN_CHAT_CHATML &&
              tn_chat_family_from_name("deepseek") == TN_CHAT_DEEPSEEK2 &&
              tn_chat_family_from_name("nope") == TN_CHAT_UNKNOWN,
          "aliases");
}

static void test_detect(void) {
    static const struct {
        const char *tmpl;
        tn_chat_family f;
    } t[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
         "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
         TN_CHAT_CHATML},
        {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}",
         TN_CHAT_LLAMA3},
        {"{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% set content = '<<SYS>>\\n' "
         "+ system_message + '\\n<</SYS>>\\n\\n' %}",
         TN_CHAT_LLAMA2},
        {"{{ '[INST] ' + message['content'] + ' [/INST]' }}{{ message['content'] + eos_token}}",
         TN_CHAT_MISTRAL},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
         TN_CHAT_GEMMA},
        {"{{ 'User: ' + message['content'] + '\\n\\n' }}{{ 'Assistant: ' + message['content'] + "
         "eos_token }}",
         TN_CHAT_DEEPSEEK2},
        {"{{'<\xef\xbd\x9cUser\xef\xbd\x9c>' + message['content']}}{{'<\xef\xbd\x9c"
         "Assistant\xef\xbd\x9c>' + content + '<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81"
         "sentence\xef\xbd\x9c>'}}",
         TN_CHAT_DEEPSEEK3},
        {"{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n' + "
         "message['content'] + '\\n<|EOT|>\\n'}}",
         TN_CHAT_DEEPSEEK_CODER},
        {"{{ message['content'] }}", TN_CHAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        CHECK(tn_chat_detect(t[i].tmpl) == t[i].f, "detect #%zu -> %s (got %s)", i,
              tn_chat_family_name(t[i].f), tn_chat_family_name(tn_chat_detect(t[i].tmpl)));
    CHECK(tn_chat_detect(NULL) == TN_CHAT_UNKNOWN, "NULL template");

    /* the real Phi-3 template, from the vocabulary file's tokenizer.chat_template */
    tn_gguf *g = tn_gguf_open("tests/data/vocab/ggml-vocab-phi-3.gguf");
    const char *tmpl = NULL;
    CHECK(g && tn_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == 0 && tmpl,
          "phi-3 chat template");
    CHECK(tmpl && tn_chat_detect(tmpl) == TN_CHAT_PHI3, "phi-3 template detected");
    /* the rendered prompt tokenizes to Phi-3's special tokens with parse_special */
    tn_vocab *v = g ? tn_vocab_load(g) : NULL;
    char *s = tn_chat_format(TN_CHAT_PHI3, conv, 4, true);
    if (v && s) {
        int32_t ids[256];
        int32_t n = tn_vocab_encode(v, s, strlen(s), true, true, ids, 256);
        /* <s>=1 <|system|>=32006 <|end|>=32007 <|user|>=32010 <|assistant|>=32001 */
        int n_sys = 0, n_end = 0, n_user = 0, n_ass = 0;
        for (int32_t i = 0; i < n; i++) {
            n_sys += ids[i] == 32006;
            n_end += ids[i] == 32007;
            n_user += ids[i] == 32010;
            n_ass += ids[i] == 32001;
        }
        CHECK(n > 10 && ids[0] == 1 && ids[1] == 32006 && n_sys == 1 && n_end == 4 &&
                  n_user == 2 && n_ass == 2 && ids[n - 1] == 32001,
              "phi-3 prompt tokens (%d ids)", n);
    }
    free(s);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

/* The commands, run as subprocesses (the binary under test: $TERN_BIN). */
static void test_cli(void) {
    static char out[65536], out2[65536];
    char cmd[1024];
    const char *bin = tt_tern_bin();
    /* tiny-llama has no chat template and no ChatML tokens, so with parse_special or without the
     * rendered ChatML prompt tokenizes the same: chat's greedy reply must equal run's greedy
     * continuation of that prompt. */
    snprintf(cmd, sizeof cmd,
             "(%s chat -st -p 'Hello there' -sys 'Be brief.' --chat-template chatml --temp 0 "
             "-n 12 2>/dev/null)",
             bin);
    int rc = tt_run(cmd, out, sizeof out);
    char path[] = "/tmp/tern-chat-prompt-XXXXXX";
    int fd = mkstemp(path);
    const char *rendered = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                           "Hello there<|im_end|>\n<|im_start|>assistant\n";
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    CHECK(f && fwrite(rendered, 1, strlen(rendered), f) == strlen(rendered), "write %s", path);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "(%s run -f %s --temp 0 -n 12 --no-display-prompt 2>/dev/null)", bin,
             path);
    int rc2 = tt_run(cmd, out2, sizeof out2);
    remove(path);
    CHECK(rc == 0 && rc2 == 0 && strlen(out) > 5 && strcmp(out, out2) == 0,
          "chat -st == run on the rendered prompt:\n  chat '%s'\n  run  '%s'", out, out2);
    /* interactive: two messages on stdin give two replies; the first is the single-turn answer
     * above, and the second turn feeds only the text the cache has not seen (the end of the
     * reply's turn and the new user turn), not the whole conversation again */
    static char first[4096], prompts[65536];
    snprintf(first, sizeof first, "%s", out);
    snprintf(cmd, sizeof cmd,
             "(printf 'Hello there\\nTell me more\\n' | %s chat -sys 'Be brief.' "
             "--chat-template chatml --temp 0 -n 12 2>/dev/null)",
             bin);
    rc = tt_run(cmd, out, sizeof out);
    size_t fl = strlen(first);
    CHECK(rc == 0 && fl > 5 && strncmp(out, first, fl) == 0 && strlen(out) > fl + 2 &&
              out[strlen(out) - 1] == '\n',
          "interactive: first reply == single-turn reply, then a second reply:\n  '%s'", out);
    snprintf(cmd, sizeof cmd,
             "(printf 'Hello there\\nTell me more\\n' | %s chat -sys 'Be brief.' "
             "--chat-template chatml --temp 0 -n 12 --verbose-prompt 2>&1 >/dev/null)",
             bin);
    rc = tt_run(cmd, prompts, sizeof prompts);
    CHECK(rc == 0 &&
              strstr(prompts, "[prompt]<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                              "Hello there<|im_end|>\n<|im_start|>assistant\n[/prompt]") &&
              strstr(prompts, "[prompt]<|im_end|>\n<|im_start|>user\nTell me more<|im_end|>\n"
                              "<|im_start|>assistant\n[/prompt]"),
          "interactive: prompt text fed per turn:\n%s", prompts);
    /* single turn from stdin, and a missing template name */
    snprintf(cmd, sizeof cmd, "printf 'Hi\\nagain\\n' | %s chat -st --temp 0 -n 4 2>&1", bin);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "no chat template") && strstr(out, "template chatml"),
          "chat without a template falls back to chatml: %s", out);
    snprintf(cmd, sizeof cmd, "%s chat -st -p hi --chat-template nonsense 2>&1", bin);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "nonsense") && strstr(out, "llama3"), "bad --chat-template: %s",
          out);
    /* tokenize: transformers' ids for BOS + "ROMEO:" (models/tiny-llama/ref.json) */
    char *ref = tn_test_read_file("models/tiny-llama/ref.json", NULL);
    const char *p = ref ? strstr(ref, "\"greedy_prompt_ids\"") : NULL;
    p = p ? strchr(p, '[') : NULL;
    char want[128] = "";
    for (size_t k = 0; p && *p && *p != ']' && k + 2 < sizeof want; p++)
        if (*p != '\n' && *p != ' ') want[k++] = *p, want[k] = 0;
    snprintf(cmd, sizeof cmd, "%s tokenize -p 'ROMEO:' --ids | tr -d ' \\n'", bin);
    rc = tt_run(cmd, out, sizeof out);
    size_t wl = strlen(want);
    CHECK(rc == 0 && wl > 3 && strncmp(out, want, wl) == 0 && out[wl] == ']',
          "tokenize --ids '%s' vs ref '%s]'", out, want);
    snprintf(cmd, sizeof cmd, "%s tokenize -p 'ROMEO:' --no-bos", bin);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, " -> ' ROMEO'") && strstr(out, " -> ':'") && !strstr(out, "<s>"),
          "tokenize pieces: %s", out);
    /* special-token texts become their tokens by default (llama-tokenize), not with
     * --no-parse-special: Phi-3's <|user|> is 32010, BOS 1 */
    snprintf(cmd, sizeof cmd, "%s tokenize -m tests/data/vocab/ggml-vocab-phi-3.gguf -p '<|user|>' --ids",
             bin);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0 && strcmp(out, "[1, 32010]\n") == 0, "tokenize parses specials: %s", out);
    snprintf(cmd, sizeof cmd,
             "%s tokenize -m tests/data/vocab/ggml-vocab-phi-3.gguf -p '<|user|>' --ids "
             "--no-parse-special",
             bin);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0 && !strstr(out, "32010") && strncmp(out, "[1, ", 4) == 0,
          "tokenize --no-parse-special: %s", out);
    free(ref);
}

int main(void) {
    test_formats();
    test_detect();
    test_cli();
    return tn_test_done("test_chat_template");
}
