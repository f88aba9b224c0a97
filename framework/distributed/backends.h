// Factories of the communicator backends compiled into this build (private to
// framework/distributed; users call create_communicator() or world()).
#pragma once

#include <memory>

#include "framework/distributed/communicator.h"

namespace ff::distributed::detail {

std::unique_ptr<Communicator> make_single_process_communicator();

// Throws when the launcher started several ranks (launcher_world_size() > 1): what "auto" does in
// a build without MPI, where every rank would otherwise train alone as rank 0 on the same files.
void refuse_multi_rank_launch_without_mpi();

#ifdef FF_WITH_MPI
// True when this process was started by an MPI launcher or MPI is already initialised: then
// "auto" picks MPI, even for a world of one.
bool mpi_launched_or_initialised();
std::unique_ptr<Communicator> make_mpi_communicator();
#endif

#ifdef FF_WITH_CUDA
// NCCL on CUDA device `device`, with the unique id broadcast through `bootstrap` (MPI).
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device);
#endif

// Rank and world size printed by fatal_error(); set by the MPI backend when it starts, so that
// printing needs no MPI call (fatal_error may run on the watchdog thread).
void set_fatal_error_identity(int rank, int world_size);

}  // namespace ff::distributed::detail
