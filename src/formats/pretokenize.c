/* Byte-level BPE pre-tokenizers: the expression lists per tokenizer.ggml.pre value and the PCRE2
 * splitting loop. The expressions are the ones the models' tokenizer.json files use (as llama.cpp
 * lists them in llama-vocab.cpp); PCRE2 understands them directly (\p{L}, \p{N}, (?i:...),
 * lookahead), compiled with UTF + UCP so that \s, \p{..} follow Unicode, and JIT-compiled.
 *
 * Where llama.cpp spelled a case-insensitive group as character classes ('[sS]) we do the same,
 * so that e.g. U+017F LATIN SMALL LETTER LONG S does not count as an "s" in a contraction. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "formats/pretokenize.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* GPT-2's expression (and most later ones' starting point). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* Llama-3 (tiktoken cl100k-style): numbers in groups of up to three digits. */
#define RE_LLAMA3                                                                                  \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"  \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen2: the same with single digits. */
#define RE_QWEN2                                                                                   \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"       \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* DeepSeek LLM: letters of the cased scripts (Unicode "LC" as of its tokenizer), ASCII and
 * full-width punctuation, CJK + Hangul runs. */
#define RE_DEEPSEEK_LETTERS                                                                        \
    "\\s?[\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"     \
    "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}"        \
    "\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}" \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"    \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"                 \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"                 \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"        \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"        \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"                 \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"        \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}"        \
    "\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"                  \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"                 \
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"                 \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"                 \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"             \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"         \
    "\\x{1E900}-\\x{1E943}]+"
#define RE_DEEPSEEK_PUNCT                                                                          \
    "\\s?[\\x{21}-\\x{2F}\\x{3A}-\\x{7E}\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}" \
    "\\x{3000}-\\x{3002}]+"
#define RE_CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
#define RE_BLOOM " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"

#define MAX_EXPR 6

typedef struct {
    const char *family;
    const char *names; /* tokenizer.ggml.pre values, '|'-separated */
    bool ignore_merges, add_bos;
    const char *expr[MAX_EXPR];
} pretok_def;

static const pretok_def defs[] = {
    {"default", "default", false, false,
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"gpt2", "gpt-2|phi-2|mpt|olmo|jais|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|"
             "jina-v2-code|roberta-bpe",
     false, false, {RE_GPT2}},
    {"llama3", "llama3|llama-v3|llama-bpe|falcon3|dbrx|smaug-bpe", true, true, {RE_LLAMA3}},
    {"chatglm4", "chatglm-bpe", false, false, {RE_LLAMA3}},
    {"qwen2", "qwen2|stablelm2|megrez", false, false, {RE_QWEN2}},
    {"deepseek-llm", "deepseek-llm", false, false,
     {"[\\r\\n]", RE_DEEPSEEK_LETTERS, RE_DEEPSEEK_PUNCT, "\\s+$", RE_CJK_HANGUL, "\\p{N}+"}},
    {"deepseek-coder", "deepseek-coder", false, false,
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_HANGUL, "\\p{N}"}},
    {"deepseek-v3", "deepseek-v3", false, false,
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
      "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", "falcon", false, false,
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder", "starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", false, false,
     {"\\p{N}", RE_GPT2}},
    {"bloom", "poro-chat|bloom|gpt3-finnish", false, false, {RE_BLOOM}},
    {"viking", "viking", false, false, {RE_BLOOM, "\\p{N}"}},
    {"tekken", "tekken", true, true,
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
      "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
};

struct tn_pretok {
    const pretok_def *def;
    int n_expr;
    pcre2_code *code[MAX_EXPR];
};

static const pretok_def *find_def(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        for (const char *p = defs[i].names; *p;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && memcmp(p, name, n) == 0) return &defs[i];
            p += len + (bar != NULL);
        }
    }
    return NULL;
}

tn_pretok *tn_pretok_new(const char *name) {
    if (!name || !*name) name = "default";
    const pretok_def *d = find_def(name);
    if (!d) {
        char known[1024] = "";
        for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
            size_t k = strlen(known);
            snprintf(known + k, sizeof known - k, "%s%s", i ? "|" : "", defs[i].names);
        }
        tn_set_error("tokenizer.ggml.pre '%s' is not a known pre-tokenizer (known: %s)", name,
                     known);
        return NULL;
    }
    tn_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        tn_set_error("pre-tokenizer: out of memory");
        return NULL;
    }
    p->def = d;
    /* MATCH_INVALID_UTF: invalid UTF-8 in the subject is allowed and simply never matches.
     * DOLLAR_ENDONLY: '$' means the end of the piece, not "before a final newline". */
    const uint32_t opts =
        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    for (int i = 0; i < MAX_EXPR && d->expr[i]; i++) {
        int err;
        PCRE2_SIZE at;
        p->code[i] = pcre2_compile((PCRE2_SPTR)d->expr[i], PCRE2_ZERO_TERMINATED, opts, &err, &at,
                                   NULL);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            tn_set_error("pre-tokenizer %s: expression %d does not compile at offset %zu: %s",
                         d->family, i, (size_t)at, (const char *)msg);
            tn_pretok_free(p);
            return NULL;
        }
        p->n_expr = i + 1;
        /* JIT is a speed-up only: without it (e.g. a build without JIT support) the
         * interpreter gives the same matches. */
        (void)pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE);
    }
    return p;
}

void tn_pretok_free(tn_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n_expr; i++)
        pcre2_code_free(p->code[i]);
    free(p);
}

const char *tn_pretok_family(const tn_pretok *p) {
    return p->def->family;
}
bool tn_pretok_ignore_merges(const tn_pretok *p) {
    return p->def->ignore_merges;
}
bool tn_pretok_add_bos(const tn_pretok *p) {
    return p->def->add_bos;
}

/* ---- splitting ---- */

typedef struct {
    const tn_pretok *p;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
    tn_pretok_fn fn;
    void *user;
} split_state;

static int emit(split_state *s, int level, const char *piece, size_t len);

/* Splits piece[0..len) with expression `level`; matches and the text between them go on to the
 * next level. */
static int split_level(split_state *s, int level, const char *piece, size_t len) {
    size_t pos = 0, gap = 0;
    const pcre2_code *re = s->p->code[level];
    while (pos < len) {
        /* NOTEMPTY: an empty match would cut nothing (Hugging Face drops empty pieces too). */
        int rc = pcre2_match(re, (PCRE2_SPTR)piece, len, pos, PCRE2_NOTEMPTY, s->md, s->mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return tn_set_error("pre-tokenizer %s: matching a %zu-byte piece failed: %s",
                                s->p->def->family, len, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t m0 = ov[0], m1 = ov[1]; /* copied: the recursion below reuses md */
        if (m0 > gap) {
            int r = emit(s, level, piece + gap, m0 - gap);
            if (r) return r;
        }
        int r = emit(s, level, piece + m0, m1 - m0);
        if (r) return r;
        pos = gap = m1;
    }
    return gap < len ? emit(s, level, piece + gap, len - gap) : 0;
}

static int emit(split_state *s, int level, const char *piece, size_t len) {
    if (level + 1 < s->p->n_expr) return split_level(s, level + 1, piece, len);
    return s->fn(s->user, piece, len);
}

int tn_pretok_split(const tn_pretok *p, const char *text, size_t len, tn_pretok_fn fn, void *user) {
    if (len == 0) return 0;
    split_state s = {p, NULL, NULL, NULL, fn, user};
    s.md = pcre2_match_data_create(1, NULL);
    s.mc = pcre2_match_context_create(NULL);
    /* PCRE2's default JIT stack is 32 KiB; long runs of one class (e.g. megabytes of spaces)
     * need more for backtracking. Past 8 MiB a match fails with an error rather than crashing. */
    s.js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    int rc;
    if (!s.md || !s.mc || !s.js) {
        rc = tn_set_error("pre-tokenizer: out of memory");
    } else {
        pcre2_jit_stack_assign(s.mc, NULL, s.js);
        rc = split_level(&s, 0, text, len);
    }
    pcre2_jit_stack_free(s.js);
    pcre2_match_context_free(s.mc);
    pcre2_match_data_free(s.md);
    return rc;
}
