// The collective watchdog's asynchronous operations (how the NCCL communicator watches the
// collectives it queues): polled until done and released once; an error or a timeout ends the
// job after the on_fatal hook; a disabled watchdog polls nothing. The NCCL side itself needs
// GPUs; this is the logic it relies on, with fake operations.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "framework/distributed/collective_watchdog.h"

namespace ff::distributed {
namespace {

using AsyncStatus = CollectiveWatchdog::AsyncStatus;
using namespace std::chrono_literals;

// Waits (up to `limit`) until the watchdog has no pending asynchronous operation.
bool drains_within(const CollectiveWatchdog& w, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (w.pending_async() == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return w.pending_async() == 0;
}

TEST(CollectiveWatchdog, AsyncOperationsArePolledUntilDoneThenReleasedOnce) {
  std::atomic<int> polls_a{0}, polls_b{0}, released_a{0}, released_b{0};
  CollectiveWatchdog w(2.0);  // polls every 0.5 s
  w.watch("a", [&] { return AsyncStatus{++polls_a >= 2, {}}; }, [&] { ++released_a; });
  w.watch("b", [&] { return AsyncStatus{++polls_b >= 1, {}}; }, [&] { ++released_b; });
  EXPECT_EQ(w.pending_async(), 2u);
  ASSERT_TRUE(drains_within(w, 1800ms)) << w.pending_async() << " still pending";
  EXPECT_EQ(polls_a.load(), 2);  // not polled again once done
  EXPECT_EQ(polls_b.load(), 1);
  EXPECT_EQ(released_a.load(), 1);
  EXPECT_EQ(released_b.load(), 1);
}

TEST(CollectiveWatchdog, DestroyingTheWatchdogReleasesWhatIsStillPending) {
  std::atomic<int> released{0};
  {
    CollectiveWatchdog w(100.0);
    w.watch("never done", [] { return AsyncStatus{}; }, [&] { ++released; });
    EXPECT_EQ(w.pending_async(), 1u);
  }
  EXPECT_EQ(released.load(), 1);
}

TEST(CollectiveWatchdog, DisabledWatchdogPollsNothingAndReleasesAtOnce) {
  std::atomic<int> polls{0}, released{0};
  CollectiveWatchdog w(0.0);
  w.watch("x", [&] { return AsyncStatus{++polls > 0, {}}; }, [&] { ++released; });
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(w.pending_async(), 0u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(polls.load(), 0);
}

// The death tests re-run this binary for just the one test ("threadsafe"), so the child has
// no other threads and no MPI state; fatal_error() then exits with status 1.
class CollectiveWatchdogDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(CollectiveWatchdogDeathTest, AFailedAsyncOperationEndsTheJobAfterTheHook) {
  EXPECT_EXIT(
      {
        CollectiveWatchdog w(5.0);
        w.set_on_fatal([] { std::fprintf(stderr, "on_fatal hook ran\n"); });
        w.watch("NCCL all_reduce (rank 0 of 2, cuda:0)", [] { return AsyncStatus{false, "remote process exited"}; });
        std::this_thread::sleep_for(10s);
        std::exit(0);  // not reached: the watchdog ends the process first
      },
      ::testing::ExitedWithCode(1),
      "on_fatal hook ran(.|\n)*FaceFlow fatal error: NCCL all_reduce \\(rank 0 of 2, cuda:0\\) failed: remote process "
      "exited");
}

TEST_F(CollectiveWatchdogDeathTest, AnAsyncOperationPastTheTimeoutEndsTheJob) {
  EXPECT_EXIT(
      {
        CollectiveWatchdog w(0.3);
        w.watch("NCCL broadcast", [] { return AsyncStatus{}; });
        std::this_thread::sleep_for(10s);
        std::exit(0);
      },
      ::testing::ExitedWithCode(1), "asynchronous collective NCCL broadcast did not complete within 0.3 s");
}

TEST_F(CollectiveWatchdogDeathTest, ALateBlockingCallAlsoRunsTheHook) {
  EXPECT_EXIT(
      {
        CollectiveWatchdog w(0.3);
        w.set_on_fatal([] { std::fprintf(stderr, "on_fatal hook ran\n"); });
        CollectiveWatchdog::Scope scope(&w, "NCCL barrier");
        std::this_thread::sleep_for(10s);
        std::exit(0);
      },
      ::testing::ExitedWithCode(1), "on_fatal hook ran(.|\n)*collective NCCL barrier did not complete within 0.3 s");
}

}  // namespace
}  // namespace ff::distributed
