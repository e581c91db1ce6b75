/* The parser's hottest scans in C, where the regular expression engine spent most of its
 * time trying alternatives that the first character already rules out:
 *
 * - tokens / tokens_lowered: the tokens of text.TOKEN_RE.findall (and each lower-cased);
 * - contains_any: whether a text holds any of a set of substrings (text.contains_any,
 *   the gates in front of the update and noise expressions).
 *
 * text.py keeps the expressions: they are the reference, and what runs when this module
 * is not built. Tests hold the two equal on every code point and on arbitrary text. Each
 * tokeniser branch below names the alternative of TOKEN_RE it mirrors; the character
 * classes are the ones sre uses for str patterns (\d: Py_UNICODE_ISDECIMAL, \w:
 * Py_UNICODE_ISALNUM or "_").
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

/* The single-character punctuation tokens, set by configure() from text.PUNCT. */
static unsigned char punct_ascii[128];
static Py_UCS4 *punct_wide = NULL; /* sorted, for bsearch */
static Py_ssize_t punct_wide_len = 0;
static int configured = 0;

static int
compare_ucs4(const void *a, const void *b)
{
    Py_UCS4 x = *(const Py_UCS4 *)a, y = *(const Py_UCS4 *)b;
    return (x > y) - (x < y);
}

static int
is_punct(Py_UCS4 c)
{
    if (c < 128) {
        return punct_ascii[c];
    }
    return bsearch(&c, punct_wide, punct_wide_len, sizeof(Py_UCS4), compare_ucs4) != NULL;
}

/* ASCII classes from a table (most characters of most messages), the rest from
 * Python's Unicode database. */
#define ASCII_DIGIT 1
#define ASCII_ALNUM 2
static unsigned char ascii_class[128];

#define IS_DIGIT(c) ((c) < 128 ? ascii_class[c] & ASCII_DIGIT : Py_UNICODE_ISDECIMAL(c)) /* \d */
#define IS_ALNUM(c) ((c) < 128 ? ascii_class[c] & ASCII_ALNUM : Py_UNICODE_ISALNUM(c)) /* [^\W_] */
#define IS_WORD(c) (IS_ALNUM(c) || (c) == '_')           /* \w */
#define IS_LETTER(c) (IS_ALNUM(c) && !IS_DIGIT(c))       /* [^\W\d_] */
#define IS_SEP(c) ((c) == '.' || (c) == ',')             /* [.,] */

static PyObject *
configure(PyObject *module, PyObject *punct)
{
    if (!PyUnicode_Check(punct)) {
        PyErr_SetString(PyExc_TypeError, "configure() takes a str of punctuation");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(punct);
    Py_UCS4 *wide = PyMem_Malloc((n ? n : 1) * sizeof(Py_UCS4));
    if (wide == NULL) {
        return PyErr_NoMemory();
    }
    memset(punct_ascii, 0, sizeof(punct_ascii));
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(punct, i);
        if (c < 128) {
            punct_ascii[c] = 1;
        }
        else {
            wide[w++] = c;
        }
    }
    qsort(wide, w, sizeof(Py_UCS4), compare_ucs4);
    PyMem_Free(punct_wide);
    punct_wide = wide;
    punct_wide_len = w;
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *
tokens(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "tokens() takes a str");
        return NULL;
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "tokens() before configure()");
        return NULL;
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
#define AT(k) PyUnicode_READ(kind, data, (k))
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        const Py_UCS4 c = AT(i);
        Py_ssize_t end = -1, j;
        if (c == ' ') {
            i++; /* (?=[^ ]) */
            continue;
        }
        if (c == '\n') {
            end = i + 1; /* \n */
        }
        else if (IS_DIGIT(c)) {
            j = i;
            while (j < n && IS_DIGIT(AT(j))) {
                j++;
            }
            if (j + 1 < n && IS_SEP(AT(j)) && IS_DIGIT(AT(j + 1))) {
                /* \d++[.,]\d++(?:[.,]\d++)*+ */
                do {
                    j++;
                    while (j < n && IS_DIGIT(AT(j))) {
                        j++;
                    }
                } while (j + 1 < n && IS_SEP(AT(j)) && IS_DIGIT(AT(j + 1)));
            }
            else {
                /* [^\W_]+ */
                while (j < n && IS_ALNUM(AT(j))) {
                    j++;
                }
            }
            end = j;
        }
        else if (c == '.') {
            /* \.(?<![\w.]\.)\d+ , else the punctuation alternative */
            end = i + 1;
            if (i + 1 < n && IS_DIGIT(AT(i + 1))) {
                const int after_word = i > 0 && (IS_WORD(AT(i - 1)) || AT(i - 1) == '.');
                if (!after_word) {
                    j = i + 1;
                    while (j < n && IS_DIGIT(AT(j))) {
                        j++;
                    }
                    end = j;
                }
            }
        }
        else if (IS_LETTER(c)) {
            /* [^\W\d_]++(?:\d++(?![\d.,])|) */
            j = i + 1;
            while (j < n && IS_LETTER(AT(j))) {
                j++;
            }
            if (j < n && IS_DIGIT(AT(j))) {
                Py_ssize_t k = j + 1;
                while (k < n && IS_DIGIT(AT(k))) {
                    k++;
                }
                if (!(k < n && IS_SEP(AT(k)))) {
                    j = k;
                }
            }
            end = j;
        }
        else if (c == '_') {
            /* _+ */
            j = i + 1;
            while (j < n && AT(j) == '_') {
                j++;
            }
            end = j;
        }
        else if (is_punct(c)) {
            end = i + 1;
        }
        if (end < 0) {
            i++; /* no token starts here (a space, an emoji the rules do not use) */
            continue;
        }
        PyObject *token = PyUnicode_Substring(text, i, end);
        if (token == NULL || PyList_Append(out, token) < 0) {
            Py_XDECREF(token);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(token);
        i = end;
    }
#undef AT
    return out;
}

static PyObject *lower_name = NULL; /* "lower", interned */

/* token.lower(): ASCII in C, anything else through str.lower. */
static PyObject *
lowered(PyObject *token)
{
    if (!PyUnicode_IS_ASCII(token)) {
        return PyObject_CallMethodNoArgs(token, lower_name);
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(token);
    const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(token);
    Py_ssize_t first = 0;
    while (first < n && !(chars[first] >= 'A' && chars[first] <= 'Z')) {
        first++;
    }
    if (first == n) {
        Py_INCREF(token); /* nothing to lower: the token itself, as str.lower shares */
        return token;
    }
    PyObject *low = PyUnicode_New(n, 127);
    if (low == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(low);
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_UCS1 c = chars[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (Py_UCS1)(c + ('a' - 'A')) : c;
    }
    return low;
}

static PyObject *
tokens_lowered(PyObject *module, PyObject *text)
{
    PyObject *toks = tokens(module, text);
    if (toks == NULL) {
        return NULL;
    }
    const Py_ssize_t n = PyList_GET_SIZE(toks);
    PyObject *lows = PyList_New(n);
    if (lows == NULL) {
        Py_DECREF(toks);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *low = lowered(PyList_GET_ITEM(toks, i));
        if (low == NULL) {
            Py_DECREF(toks);
            Py_DECREF(lows);
            return NULL;
        }
        PyList_SET_ITEM(lows, i, low);
    }
    PyObject *pair = PyTuple_Pack(2, toks, lows);
    Py_DECREF(toks);
    Py_DECREF(lows);
    return pair;
}

/* Substring gates: does a text hold any of a set of needles? (text.contains_any)
 *
 * The needles are sorted by their first code point; a scan looks each position's code
 * point up in a table of first characters (ASCII) or the sorted list (anything else) and
 * compares only the needles that start with it. */
typedef struct {
    Py_ssize_t count;
    Py_UCS4 **chars; /* each needle's code points */
    Py_ssize_t *lens;
    Py_ssize_t ascii_start[128], ascii_end[128]; /* needles starting with an ASCII char */
    /* For those: the ASCII second characters they continue with (a bit per character),
     * so that a scan compares needles only where the first two characters agree; a
     * first character with a one-character needle, or a needle whose second character
     * is beyond ASCII, sets ascii_any and is compared always. */
    uint64_t ascii_second[128][2];
    unsigned char ascii_any[128];
    Py_ssize_t wide_from; /* needles [wide_from, count) start beyond ASCII */
    unsigned char wide_hint[256]; /* set at (c & 255) for each such needle's first c */
    int has_empty; /* an empty needle is in every text */
} needle_set;

static const char *NEEDLES = "signalbridge.parsing._tokens.needles";

static void
free_needles(needle_set *set)
{
    if (set == NULL) {
        return;
    }
    for (Py_ssize_t k = 0; k < set->count; k++) {
        PyMem_Free(set->chars[k]);
    }
    PyMem_Free(set->chars);
    PyMem_Free(set->lens);
    PyMem_Free(set);
}

static void
needles_destructor(PyObject *capsule)
{
    free_needles(PyCapsule_GetPointer(capsule, NEEDLES));
}

typedef struct {
    Py_UCS4 *chars;
    Py_ssize_t len;
} needle;

static int
compare_needles(const void *a, const void *b)
{
    return compare_ucs4(((const needle *)a)->chars, ((const needle *)b)->chars);
}

static PyObject *
needles(PyObject *module, PyObject *words)
{
    if (!PyTuple_Check(words)) {
        PyErr_SetString(PyExc_TypeError, "needles() takes a tuple of str");
        return NULL;
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(words);
    needle_set *set = PyMem_Calloc(1, sizeof(needle_set));
    needle *sorted = PyMem_Calloc(count ? count : 1, sizeof(needle));
    if (set == NULL || sorted == NULL) {
        PyMem_Free(set);
        PyMem_Free(sorted);
        return PyErr_NoMemory();
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *word = PyTuple_GET_ITEM(words, k);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "needles() takes a tuple of str");
            goto fail;
        }
        if (PyUnicode_GET_LENGTH(word) == 0) {
            set->has_empty = 1;
            continue;
        }
        Py_UCS4 *chars = PyUnicode_AsUCS4Copy(word);
        if (chars == NULL) {
            goto fail;
        }
        sorted[kept].chars = chars;
        sorted[kept].len = PyUnicode_GET_LENGTH(word);
        kept++;
    }
    qsort(sorted, kept, sizeof(needle), compare_needles);
    set->count = kept;
    set->chars = PyMem_Calloc(kept ? kept : 1, sizeof(Py_UCS4 *));
    set->lens = PyMem_Calloc(kept ? kept : 1, sizeof(Py_ssize_t));
    if (set->chars == NULL || set->lens == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    set->wide_from = kept;
    for (Py_ssize_t k = kept - 1; k >= 0; k--) {
        const Py_UCS4 first = sorted[k].chars[0];
        set->chars[k] = sorted[k].chars;
        set->lens[k] = sorted[k].len;
        sorted[k].chars = NULL;
        if (first < 128) {
            if (set->ascii_end[first] == 0) {
                set->ascii_end[first] = k + 1;
            }
            set->ascii_start[first] = k;
            const Py_UCS4 second = set->lens[k] > 1 ? set->chars[k][1] : 128;
            if (second < 128) {
                set->ascii_second[first][second >> 6] |= (uint64_t)1 << (second & 63);
            }
            else {
                set->ascii_any[first] = 1;
            }
        }
        else {
            set->wide_from = k;
            set->wide_hint[first & 255] = 1;
        }
    }
    PyMem_Free(sorted);
    PyObject *capsule = PyCapsule_New(set, NEEDLES, needles_destructor);
    if (capsule == NULL) {
        free_needles(set);
    }
    return capsule;
fail:
    for (Py_ssize_t k = 0; k < count; k++) {
        PyMem_Free(sorted[k].chars);
    }
    PyMem_Free(sorted);
    free_needles(set);
    return NULL;
}

static int
needle_at(const needle_set *set, Py_ssize_t k, int kind, const void *data, Py_ssize_t i,
          Py_ssize_t n)
{
    const Py_ssize_t len = set->lens[k];
    if (i + len > n) {
        return 0;
    }
    const Py_UCS4 *chars = set->chars[k];
    for (Py_ssize_t j = 1; j < len; j++) {
        if (PyUnicode_READ(kind, data, i + j) != chars[j]) {
            return 0;
        }
    }
    return 1;
}

/* The first needle beyond ASCII whose first code point is c or more: a binary search
 * (the gates of the update languages hold a few hundred such needles). */
static Py_ssize_t
first_at_least(const needle_set *set, Py_UCS4 c)
{
    Py_ssize_t lo = set->wide_from, hi = set->count;
    while (lo < hi) {
        const Py_ssize_t mid = lo + (hi - lo) / 2;
        if (set->chars[mid][0] < c) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

static PyObject *
contains_any(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "contains_any(needles, text: str)");
        return NULL;
    }
    const needle_set *set = PyCapsule_GetPointer(args[0], NEEDLES);
    if (set == NULL) {
        return NULL;
    }
    if (set->has_empty) {
        Py_RETURN_TRUE;
    }
    PyObject *text = args[1];
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    /* One loop per string width, so the compiler reads each character directly; a
     * character beyond ASCII that no needle can start with costs one table look-up. */
#define SCAN(TYPE)                                                                    \
    {                                                                                 \
        const TYPE *chars = (const TYPE *)data;                                       \
        for (Py_ssize_t i = 0; i < n; i++) {                                          \
            const Py_UCS4 c = chars[i];                                               \
            Py_ssize_t k, end;                                                        \
            if (c < 128) {                                                            \
                k = set->ascii_start[c];                                              \
                end = set->ascii_end[c];                                              \
                if (k == end) {                                                       \
                    continue;                                                         \
                }                                                                     \
                if (!set->ascii_any[c]) {                                             \
                    const Py_UCS4 c2 = i + 1 < n ? chars[i + 1] : 128;                \
                    if (c2 >= 128                                                     \
                        || !((set->ascii_second[c][c2 >> 6] >> (c2 & 63)) & 1)) {    \
                        continue; /* no needle goes on with this character */         \
                    }                                                                 \
                }                                                                     \
            }                                                                         \
            else if (!set->wide_hint[c & 255]) {                                      \
                continue;                                                             \
            }                                                                         \
            else {                                                                    \
                k = first_at_least(set, c);                                           \
                end = set->count;                                                     \
            }                                                                         \
            for (; k < end && set->chars[k][0] == c; k++) {                           \
                if (needle_at(set, k, kind, data, i, n)) {                            \
                    Py_RETURN_TRUE;                                                   \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    }
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        SCAN(Py_UCS1)
        break;
    case PyUnicode_2BYTE_KIND:
        SCAN(Py_UCS2)
        break;
    default:
        SCAN(Py_UCS4)
        break;
    }
#undef SCAN
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"needles", needles, METH_O, "A needle set for contains_any, from a tuple of str."},
    {"contains_any", (PyCFunction)(void (*)(void))contains_any, METH_FASTCALL,
     "Whether text holds any of the needles as a substring."},
    {"configure", configure, METH_O, "Set the single-character punctuation tokens."},
    {"tokens", tokens, METH_O, "The tokens of text.TOKEN_RE.findall(text)."},
    {"tokens_lowered", tokens_lowered, METH_O, "The tokens, and each one lower-cased."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tokens", "The parser's tokeniser in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__tokens(void)
{
    lower_name = PyUnicode_InternFromString("lower");
    if (lower_name == NULL) {
        return NULL;
    }
    for (Py_UCS4 c = 0; c < 128; c++) {
        ascii_class[c] = (Py_UNICODE_ISDECIMAL(c) ? ASCII_DIGIT : 0) |
                         (Py_UNICODE_ISALNUM(c) ? ASCII_ALNUM : 0);
    }
    return PyModule_Create(&module);
}
