// The few ICU C entry points LoRAKit uses: regular expressions with Unicode properties (pre-tokenizers), NFD
// normalization, lower-casing and character properties (WordPiece).
//
// Why not `#include <unicode/uregex.h>` and friends: on Linux, Foundation carries its own ICU copy (module
// _FoundationICU) whose headers define the same types (UErrorCode, UBool…) with different members, and a Swift
// module that imports both Foundation and the system headers fails to build. So this header includes only
// uvernum.h (macros, no types), declares the entry points with plain C types of the same ABI, and wraps them in
// stable names: ICU renames every symbol with its version (uregex_open -> uregex_open_72) through macros Swift
// cannot import.
#ifndef LORAKIT_CICU_SHIM_H
#define LORAKIT_CICU_SHIM_H

#include <stdint.h>
#include <unicode/uvernum.h>

#define LORAKIT_ICU(name) U_ICU_ENTRY_POINT_RENAME(name)

typedef struct LoRAKitURegex LoRAKitURegex;  // URegularExpression
typedef struct LoRAKitUNormalizer2 LoRAKitUNormalizer2;  // UNormalizer2
typedef struct {  // UParseError
    int32_t line;
    int32_t offset;
    uint16_t preContext[16];
    uint16_t postContext[16];
} LoRAKitUParseError;

// UErrorCode is a C enum (int); UBool is int8_t; UChar is a 16-bit code unit; UChar32 is int32_t.
LoRAKitURegex *LORAKIT_ICU(uregex_open)(const uint16_t *pattern, int32_t length, uint32_t flags,
                                        LoRAKitUParseError *parseError, int *status);
void LORAKIT_ICU(uregex_close)(LoRAKitURegex *regex);
void LORAKIT_ICU(uregex_setText)(LoRAKitURegex *regex, const uint16_t *text, int32_t length, int *status);
int8_t LORAKIT_ICU(uregex_findNext)(LoRAKitURegex *regex, int *status);
int32_t LORAKIT_ICU(uregex_start)(LoRAKitURegex *regex, int32_t group, int *status);
int32_t LORAKIT_ICU(uregex_end)(LoRAKitURegex *regex, int32_t group, int *status);
const LoRAKitUNormalizer2 *LORAKIT_ICU(unorm2_getNFDInstance)(int *status);
int32_t LORAKIT_ICU(unorm2_normalize)(const LoRAKitUNormalizer2 *normalizer, const uint16_t *src, int32_t length,
                                      uint16_t *dest, int32_t capacity, int *status);
int8_t LORAKIT_ICU(u_charType)(int32_t c);
int8_t LORAKIT_ICU(u_isUWhiteSpace)(int32_t c);
int32_t LORAKIT_ICU(u_strToLower)(uint16_t *dest, int32_t capacity, const uint16_t *src, int32_t length,
                                  const char *locale, int *status);

/// Compiles `pattern` (UTF-16); on failure returns NULL with `*status` > 0 and the offset in `*errorOffset`.
static inline LoRAKitURegex *lorakit_uregex_open(const uint16_t *pattern, int32_t length, int *status,
                                                 int32_t *errorOffset) {
    LoRAKitUParseError parseError = {0};
    LoRAKitURegex *regex = LORAKIT_ICU(uregex_open)(pattern, length, 0, &parseError, status);
    *errorOffset = parseError.offset;
    return regex;
}
static inline void lorakit_uregex_close(LoRAKitURegex *regex) { LORAKIT_ICU(uregex_close)(regex); }
static inline void lorakit_uregex_setText(LoRAKitURegex *regex, const uint16_t *text, int32_t length, int *status) {
    LORAKIT_ICU(uregex_setText)(regex, text, length, status);
}
static inline int lorakit_uregex_findNext(LoRAKitURegex *regex, int *status) {
    return LORAKIT_ICU(uregex_findNext)(regex, status) != 0;
}
static inline int32_t lorakit_uregex_start(LoRAKitURegex *regex, int *status) {
    return LORAKIT_ICU(uregex_start)(regex, 0, status);
}
static inline int32_t lorakit_uregex_end(LoRAKitURegex *regex, int *status) {
    return LORAKIT_ICU(uregex_end)(regex, 0, status);
}
static inline const LoRAKitUNormalizer2 *lorakit_nfd_instance(int *status) {
    return LORAKIT_ICU(unorm2_getNFDInstance)(status);
}
static inline int32_t lorakit_unorm2_normalize(const LoRAKitUNormalizer2 *normalizer, const uint16_t *src,
                                               int32_t length, uint16_t *dest, int32_t capacity, int *status) {
    return LORAKIT_ICU(unorm2_normalize)(normalizer, src, length, dest, capacity, status);
}
/// ICU's UCharCategory, e.g. 6 = U_NON_SPACING_MARK (Mn).
static inline int32_t lorakit_u_charType(int32_t c) { return LORAKIT_ICU(u_charType)(c); }
static inline int lorakit_u_isUWhiteSpace(int32_t c) { return LORAKIT_ICU(u_isUWhiteSpace)(c) != 0; }
/// Full (not simple) lower-casing in the root locale: 'İ' becomes "i̇", as Rust's `char::to_lowercase`.
static inline int32_t lorakit_u_strToLower(uint16_t *dest, int32_t capacity, const uint16_t *src, int32_t length,
                                           int *status) {
    return LORAKIT_ICU(u_strToLower)(dest, capacity, src, length, "", status);
}

#endif
