// ICU's C API: regular expressions with Unicode properties (pre-tokenizers) and normalization (WordPiece).
#include <unicode/uregex.h>
#include <unicode/unorm2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
