// A failing rank ends the whole MPI job instead of leaving the others waiting: this test starts
// this same executable under `mpirun -np 2` in a "child" mode (selected by an environment
// variable, before gtest's main runs) where rank 1 fails while rank 0 waits in a barrier, and
// checks that the job ends quickly, unsuccessfully, and with rank 1's error.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "framework/common/check.h"
#include "framework/distributed/communicator.h"

namespace ff {
namespace {

constexpr const char* kChildVar = "FF_ABORT_TEST_CHILD";

// Child mode: rank 1 fails as `scenario` says; every other rank waits for it in a barrier.
[[noreturn]] void run_child(const std::string& scenario) {
  distributed::Communicator& comm = distributed::world();
  if (comm.rank() == 1) {
    if (scenario == "throw") throw Error("rank 1 failed on purpose");  // uncaught
    if (scenario == "abort") comm.abort("rank 1 gave up on purpose");
    if (scenario == "hang") std::this_thread::sleep_for(std::chrono::seconds(120));  // never communicates
  }
  comm.barrier();
  std::fprintf(stderr, "child: barrier passed on rank %d\n", comm.rank());
  std::exit(0);  // runs MPI_Finalize (registered at exit by world())
}

const bool kIsChild = [] {
  if (const char* scenario = std::getenv(kChildVar)) run_child(scenario);
  return false;
}();

struct JobResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;
  double seconds = 0;
};

JobResult run_job(const std::string& scenario, const std::string& extra_env = "") {
  char exe[4096] = {0};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  EXPECT_GT(n, 0);
  // `timeout` only guards this test against a regression that hangs; a working abort ends the
  // job in seconds.
  const std::string cmd = std::string(kChildVar) + "=" + scenario + " " + extra_env +
                          " timeout -s KILL 100 mpirun --allow-run-as-root --oversubscribe -np 2 " + exe + " 2>&1";
  const auto start = std::chrono::steady_clock::now();
  JobResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, got);
  const int status = pclose(pipe);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

bool have_mpirun() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

class AbortJob : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef FF_WITH_MPI
    GTEST_SKIP() << "built without MPI (FF_WITH_MPI=OFF)";
#endif
    if (!have_mpirun()) GTEST_SKIP() << "mpirun is not on PATH";
  }
};

TEST_F(AbortJob, UncaughtExceptionOnOneRankAbortsTheJobWithItsMessage) {
  const JobResult r = run_job("throw");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 1/2] FaceFlow fatal error: uncaught exception: rank 1 failed on purpose"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("barrier passed"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 60.0) << r.output;
}

TEST_F(AbortJob, CommunicatorAbortEndsEveryRank) {
  const JobResult r = run_job("abort");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 1/2] FaceFlow fatal error: rank 1 gave up on purpose"), std::string::npos)
      << r.output;
  EXPECT_LT(r.seconds, 60.0) << r.output;
}

TEST_F(AbortJob, CollectiveTimeoutAbortsWhenARankStopsCommunicating) {
  const JobResult r = run_job("hang", "FF_COLLECTIVE_TIMEOUT_S=2");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 0/2] FaceFlow fatal error: collective MPI_Barrier did not complete within 2 s"),
            std::string::npos)
      << r.output;
  EXPECT_LT(r.seconds, 60.0) << r.output;  // rank 1 alone would sleep 120 s
}

TEST_F(AbortJob, HealthyJobPassesTheBarrier) {
  const JobResult r = run_job("none");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("barrier passed on rank 1"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ff
