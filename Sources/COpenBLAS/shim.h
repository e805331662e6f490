// Debian's libopenblas-dev puts cblas.h in an alternatives-managed include dir found by pkg-config.
#include <cblas.h>
