// json-c: fast streaming JSON for large JSONL datasets where Foundation is too slow.
#include <json-c/json.h>
