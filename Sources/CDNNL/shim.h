// oneDNN (Debian libdnnl-dev 2.6.3). Debian ships no dnnl.pc, so the header comes from /usr/include and the
// library from the default search path.
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN with the OpenMP runtime (DNNL_CPU_THREADING_RUNTIME = OMP, `ldd libdnnl.so` shows
// libgomp): its thread count is OpenMP's, set per calling thread.
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
