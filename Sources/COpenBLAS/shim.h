// Debian's libopenblas-dev puts cblas.h in an alternatives-managed include dir found by pkg-config.
#include <cblas.h>

// LAPACK's divide-and-conquer SVD (column-major), shipped inside libopenblas; used for PiSSA and SVD merges.
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s, float *u,
             const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *iwork, int *info);
