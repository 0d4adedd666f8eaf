/* Built-in chat formatters and template recognition (see chat_template.h). Each formatter follows
 * the format its model card documents; where a model has no system role (Gemma, Mistral) the
 * system text goes in front of the first user message, as the official templates do. */
#include "chat/chat_template.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* DeepSeek's special-token texts use full-width bars and U+2581. */
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

static const struct {
    tn_chat_family f;
    const char *name;
} names[] = {
    {TN_CHAT_CHATML, "chatml"},          {TN_CHAT_CHATML, "qwen"},
    {TN_CHAT_LLAMA3, "llama3"},          {TN_CHAT_LLAMA2, "llama2"},
    {TN_CHAT_MISTRAL, "mistral"},        {TN_CHAT_GEMMA, "gemma"},
    {TN_CHAT_PHI3, "phi3"},              {TN_CHAT_DEEPSEEK2, "deepseek2"},
    {TN_CHAT_DEEPSEEK2, "deepseek"},     {TN_CHAT_DEEPSEEK3, "deepseek3"},
    {TN_CHAT_DEEPSEEK_CODER, "deepseek-coder"},
};

tn_chat_family tn_chat_family_from_name(const char *name) {
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0) return names[i].f;
    return TN_CHAT_UNKNOWN;
}

const char *tn_chat_family_name(tn_chat_family f) {
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].f == f) return names[i].name;
    return "unknown";
}

const char *tn_chat_family_list(void) {
    return "chatml (qwen), llama3, llama2, mistral, gemma, phi3, deepseek2 (deepseek), deepseek3, "
           "deepseek-coder";
}

tn_chat_family tn_chat_detect(const char *t) {
    if (!t) return TN_CHAT_UNKNOWN;
#define HAS(s) (strstr(t, s) != NULL)
    if (HAS("<|im_start|>")) return TN_CHAT_CHATML;
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) return TN_CHAT_LLAMA3;
    if (HAS("<start_of_turn>")) return TN_CHAT_GEMMA;
    if (HAS("<|assistant|>") && HAS("<|end|>")) return TN_CHAT_PHI3;
    if (HAS(DS_ASSISTANT) && HAS(DS_USER)) return TN_CHAT_DEEPSEEK3;
    if (HAS("### Instruction:") && HAS("<|EOT|>")) return TN_CHAT_DEEPSEEK_CODER;
    if (HAS("'Assistant: ' + message['content'] + eos_token") ||
        (HAS("'User: '") && HAS("Assistant:")))
        return TN_CHAT_DEEPSEEK2;
    if (HAS("[INST]")) return HAS("<<SYS>>") ? TN_CHAT_LLAMA2 : TN_CHAT_MISTRAL;
#undef HAS
    return TN_CHAT_UNKNOWN;
}

/* ---- a growing string ---- */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(sbuf *b, const char *s) {
    put_n(b, s, strlen(s));
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Appends s without leading/trailing ASCII white space (the templates' strip()/trim). */
static void put_trim(sbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && is_ws(*s))
        s++, n--;
    while (n && is_ws(s[n - 1]))
        n--;
    put_n(b, s, n);
}

static bool role_is(const tn_chat_msg *m, const char *r) {
    return strcmp(m->role, r) == 0;
}

/* ---- formatters: each returns 0, or -1 with an error set for a role it cannot express ---- */

static int bad_role(tn_chat_family f, const char *role) {
    return tn_set_error("chat template %s: role '%s' is not supported (system, user, assistant)",
                        tn_chat_family_name(f), role);
}

/* <|im_start|>{role}\n{content}<|im_end|>\n */
static int fmt_chatml(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        put(b, "<|im_start|>");
        put(b, m[i].role);
        put(b, "\n");
        put(b, m[i].content);
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
    return 0;
}

/* <|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|> */
static int fmt_llama3(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        put(b, "<|start_header_id|>");
        put(b, m[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_trim(b, m[i].content);
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

/* Llama 2: [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
 * Each later user turn starts with its own <s>. */
static int fmt_llama2(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    const char *sys = NULL;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            sys = m[i].content;
        } else if (role_is(&m[i], "user")) {
            put(b, first ? "[INST] " : "<s>[INST] ");
            if (sys) {
                put(b, "<<SYS>>\n");
                put(b, sys);
                put(b, "\n<</SYS>>\n\n");
                sys = NULL;
            }
            put_trim(b, m[i].content);
            put(b, " [/INST]");
            first = false;
        } else if (role_is(&m[i], "assistant")) {
            put(b, " ");
            put_trim(b, m[i].content);
            put(b, " </s>");
            first = false;
        } else {
            return bad_role(TN_CHAT_LLAMA2, m[i].role);
        }
    }
    (void)gen; /* the assistant's turn starts right after [/INST] */
    return 0;
}

/* Mistral instruct: [INST] {system}\n\n{user} [/INST] {assistant}</s>[INST] ... */
static int fmt_mistral(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            sys = m[i].content;
        } else if (role_is(&m[i], "user")) {
            put(b, "[INST] ");
            if (sys) {
                put(b, sys);
                put(b, "\n\n");
                sys = NULL;
            }
            put(b, m[i].content);
            put(b, " [/INST]");
        } else if (role_is(&m[i], "assistant")) {
            put(b, " ");
            put(b, m[i].content);
            put(b, "</s>");
        } else {
            return bad_role(TN_CHAT_MISTRAL, m[i].role);
        }
    }
    (void)gen;
    return 0;
}

/* Gemma: <start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n... */
static int fmt_gemma(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        bool user = role_is(&m[i], "user"), model = role_is(&m[i], "assistant");
        if (role_is(&m[i], "system")) {
            sys = m[i].content;
            continue;
        }
        if (!user && !model) return bad_role(TN_CHAT_GEMMA, m[i].role);
        put(b, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (user && sys) {
            put_trim(b, sys);
            put(b, "\n\n");
            sys = NULL;
        }
        put_trim(b, m[i].content);
        put(b, "<end_of_turn>\n");
    }
    if (sys) { /* a system message with no user turn after it */
        put(b, "<start_of_turn>user\n");
        put_trim(b, sys);
        put(b, "<end_of_turn>\n");
    }
    if (gen) put(b, "<start_of_turn>model\n");
    return 0;
}

/* Phi-3: <|{role}|>\n{content}<|end|>\n */
static int fmt_phi3(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        put(b, "<|");
        put(b, m[i].role);
        put(b, "|>\n");
        put(b, m[i].content);
        put(b, "<|end|>\n");
    }
    if (gen) put(b, "<|assistant|>\n");
    return 0;
}

/* DeepSeek LLM chat / V2: {system}\n\nUser: {user}\n\nAssistant: {assistant}<｜end▁of▁sentence｜> */
static int fmt_deepseek2(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            put(b, m[i].content);
            put(b, "\n\n");
        } else if (role_is(&m[i], "user")) {
            put(b, "User: ");
            put(b, m[i].content);
            put(b, "\n\n");
        } else if (role_is(&m[i], "assistant")) {
            put(b, "Assistant: ");
            put(b, m[i].content);
            put(b, DS_EOS);
        } else {
            return bad_role(TN_CHAT_DEEPSEEK2, m[i].role);
        }
    }
    if (gen) put(b, "Assistant:");
    return 0;
}

/* DeepSeek V3 / R1: {system}<｜User｜>{user}<｜Assistant｜>{assistant}<｜end▁of▁sentence｜> */
static int fmt_deepseek3(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            put(b, m[i].content);
        } else if (role_is(&m[i], "user")) {
            put(b, DS_USER);
            put(b, m[i].content);
        } else if (role_is(&m[i], "assistant")) {
            put(b, DS_ASSISTANT);
            put(b, m[i].content);
            put(b, DS_EOS);
        } else {
            return bad_role(TN_CHAT_DEEPSEEK3, m[i].role);
        }
    }
    if (gen) put(b, DS_ASSISTANT);
    return 0;
}

/* DeepSeek Coder: {system}### Instruction:\n{user}\n### Response:\n{assistant}\n<|EOT|>\n */
static int fmt_deepseek_coder(sbuf *b, const tn_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            put(b, m[i].content);
        } else if (role_is(&m[i], "user")) {
            put(b, "### Instruction:\n");
            put(b, m[i].content);
            put(b, "\n");
        } else if (role_is(&m[i], "assistant")) {
            put(b, "### Response:\n");
            put(b, m[i].content);
            put(b, "\n<|EOT|>\n");
        } else {
            return bad_role(TN_CHAT_DEEPSEEK_CODER, m[i].role);
        }
    }
    if (gen) put(b, "### Response:\n");
    return 0;
}

char *tn_chat_format(tn_chat_family f, const tn_chat_msg *msgs, size_t n,
                     bool add_generation_prompt) {
    typedef int (*fmt_fn)(sbuf *, const tn_chat_msg *, size_t, bool);
    static const fmt_fn fmts[TN_CHAT_N_FAMILIES] = {
        [TN_CHAT_CHATML] = fmt_chatml,       [TN_CHAT_LLAMA3] = fmt_llama3,
        [TN_CHAT_LLAMA2] = fmt_llama2,       [TN_CHAT_MISTRAL] = fmt_mistral,
        [TN_CHAT_GEMMA] = fmt_gemma,         [TN_CHAT_PHI3] = fmt_phi3,
        [TN_CHAT_DEEPSEEK2] = fmt_deepseek2, [TN_CHAT_DEEPSEEK3] = fmt_deepseek3,
        [TN_CHAT_DEEPSEEK_CODER] = fmt_deepseek_coder,
    };
    if ((int)f <= TN_CHAT_UNKNOWN || f >= TN_CHAT_N_FAMILIES) {
        tn_set_error("chat template: unknown family %d", (int)f);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            tn_set_error("chat template: message %zu has no role or content", i);
            return NULL;
        }
    sbuf b = {0};
    put(&b, ""); /* an empty conversation still gives a (empty) string */
    if (fmts[f](&b, msgs, n, add_generation_prompt)) {
        free(b.p);
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        tn_set_error("chat template: out of memory");
        return NULL;
    }
    return b.p;
}
