/* Chat templates: turn a conversation (role, content messages) into the prompt text a chat model
 * was trained on. Not a Jinja interpreter: the family is recognised from distinctive substrings of
 * the GGUF's tokenizer.chat_template (or named by the user) and rendered by a built-in formatter
 * written from the model cards' documented formats.
 *
 * The leading BOS is never part of the text: the tokenizer adds it when the vocabulary asks
 * for it (tokenizer.ggml.add_bos_token). Special-token texts in the output ("<|im_start|>",
 * "[INST]", ...) must be tokenized with parse_special on. */
#ifndef TN_CHAT_CHAT_TEMPLATE_H
#define TN_CHAT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TN_CHAT_UNKNOWN = 0,
    TN_CHAT_CHATML,         /* ChatML: Qwen, Yi, many fine-tunes */
    TN_CHAT_LLAMA3,         /* Llama 3.x */
    TN_CHAT_LLAMA2,         /* Llama 2 chat: [INST] with <<SYS>> */
    TN_CHAT_MISTRAL,        /* Mistral instruct: [INST] without <<SYS>> */
    TN_CHAT_GEMMA,          /* Gemma: <start_of_turn>, no system role */
    TN_CHAT_PHI3,           /* Phi-3 */
    TN_CHAT_DEEPSEEK2,      /* DeepSeek LLM chat / V2: "User: ...\n\nAssistant: ..." */
    TN_CHAT_DEEPSEEK3,      /* DeepSeek V3 / R1: <｜User｜> <｜Assistant｜> */
    TN_CHAT_DEEPSEEK_CODER, /* DeepSeek Coder instruct: ### Instruction / ### Response */
    TN_CHAT_N_FAMILIES
} tn_chat_family;

typedef struct tn_chat_msg {
    const char *role; /* "system", "user", "assistant" (ChatML, Llama 3, Phi-3 accept any) */
    const char *content;
} tn_chat_msg;

/* Family named by `name` ("chatml", "qwen", "llama3", "llama2", "mistral", "gemma", "phi3",
 * "deepseek2", "deepseek", "deepseek3", "deepseek-coder"), else TN_CHAT_UNKNOWN. */
tn_chat_family tn_chat_family_from_name(const char *name);
const char *tn_chat_family_name(tn_chat_family f);
/* The names tn_chat_family_from_name accepts, comma-separated (for --help). */
const char *tn_chat_family_list(void);
/* Recognises the family of a Jinja chat template by its distinctive substrings. */
tn_chat_family tn_chat_detect(const char *template_text);

/* Renders the conversation; add_generation_prompt appends the opening of an assistant turn.
 * Returns a malloc'd NUL-terminated string, or NULL with an error set (unknown family, a role the
 * family cannot express, out of memory). */
char *tn_chat_format(tn_chat_family f, const tn_chat_msg *msgs, size_t n,
                     bool add_generation_prompt);

#endif
