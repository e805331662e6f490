// Open MPI's C API for Swift. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE … are macros over addresses of
// library globals (OMPI_PREDEFINED_GLOBAL), which Swift's importer cannot see; these inline functions return them.
// Debian's libopenmpi-dev: pkg-config `ompi` gives the include directory.
#include <mpi.h>

static inline MPI_Comm lorakit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype lorakit_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype lorakit_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op lorakit_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op lorakit_mpi_max(void) { return MPI_MAX; }
static inline void *lorakit_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler lorakit_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int lorakit_mpi_success(void) { return MPI_SUCCESS; }
static inline int lorakit_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int lorakit_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
