// Collectives over ranks-as-threads, rendezvous errors over real TCP stores.
#include "tdml/dist/process_group.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/dist/launcher.h"
#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

TEST(ProcessGroup, AllReduceBroadcastGatherAndPointToPointOverThreeRanks) {
  TDML_REQUIRE_GLOO();
  std::vector<torch::Tensor> sums(3), avgs(3), bcast(3), recvd(3);
  std::vector<std::vector<torch::Tensor>> gathered(3);
  run_local_ranks(3, [&](Comm& comm) {
    const int r = comm.rank();
    auto s = torch::full({5}, static_cast<float>(r + 1));
    comm.all_reduce(s);
    sums[r] = s;
    auto a = torch::full({5}, static_cast<float>(r + 1));
    comm.all_reduce(a, ReduceOp::kAvg);
    avgs[r] = a;
    std::vector<torch::Tensor> b{torch::full({2, 2}, static_cast<float>(10 * r))};
    comm.broadcast(b, 2);
    bcast[r] = b[0];
    gathered[r] = comm.all_gather(torch::tensor({r, r * r}));
    // A ring of sends: r -> r+1.
    auto out = torch::full({3}, static_cast<float>(r));
    auto in = torch::empty({3});
    if (r % 2 == 0) {
      comm.send(out, (r + 1) % 3, 4);
      comm.recv(in, (r + 2) % 3, 4);
    } else {
      comm.recv(in, (r + 2) % 3, 4);
      comm.send(out, (r + 1) % 3, 4);
    }
    recvd[r] = in;
    comm.barrier();
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_TRUE(torch::equal(sums[r], torch::full({5}, 6.0f)));
    EXPECT_TRUE(torch::allclose(avgs[r], torch::full({5}, 2.0f)));
    EXPECT_TRUE(torch::equal(bcast[r], torch::full({2, 2}, 20.0f)));
    ASSERT_EQ(gathered[r].size(), 3u);
    EXPECT_TRUE(torch::equal(gathered[r][2], torch::tensor({2, 4})));
    EXPECT_TRUE(torch::equal(recvd[r], torch::full({3}, static_cast<float>((r + 2) % 3))));
  }
}

TEST(ProcessGroup, LostPeerIsAnErrorNamingItsRank) {
  TDML_REQUIRE_GLOO();
  auto comms = make_local_group(2, std::chrono::seconds(10));
  std::string error;
  std::thread peer([&] { comms[1].reset(); });  // rank 1 goes away
  peer.join();
  try {
    auto t = torch::ones({1024});
    comms[0]->all_reduce(t);
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("all_reduce"), std::string::npos) << error;
  EXPECT_NE(error.find("rank 1"), std::string::npos) << error;
}

// A rank writing to a dead peer's socket must get an error it can report, not be killed by
// SIGPIPE (default action) before it says which rank was lost.
TEST(ProcessGroup, JoiningAGroupMakesWritesToADeadPeerAnErrorNotSigpipe) {
  TDML_REQUIRE_GLOO();
  std::signal(SIGPIPE, SIG_DFL);
  auto comms = make_local_group(2, std::chrono::seconds(10));
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ::close(sv[1]);  // the peer is gone
  const char byte = 0;
  EXPECT_EQ(::write(sv[0], &byte, 1), -1);  // SIG_DFL would end this test process here
  EXPECT_EQ(errno, EPIPE);
  ::close(sv[0]);
}

TEST(ProcessGroup, PortInUseIsAClearError) {
  TDML_REQUIRE_GLOO();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  DistOptions o;
  o.master_port = ntohs(a.sin_port);
  o.backend = BackendKind::kGloo;
  o.timeout = std::chrono::seconds(5);
  try {
    init_process_group(o);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(o.master_port)), std::string::npos);
  }
  ::close(fd);
}

TEST(ProcessGroup, MissingRanksAndBadAddressesTimeOutWithClearErrors) {
  DistOptions o;
  o.world = 2;
  o.master_port = pick_free_port();
  o.timeout = std::chrono::seconds(1);
  try {
    init_process_group(o);  // rank 0 of 2; rank 1 never comes
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rendezvous timed out"), std::string::npos) << e.what();
  }
  o.rank = 1;
  o.master_addr = "256.0.0.1";
  try {
    init_process_group(o);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach the rendezvous store at 256.0.0.1"),
              std::string::npos)
        << e.what();
  }
}

TEST(ProcessGroup, OptionsComeFromTorchrunEnvironment) {
  ::setenv("RANK", "3", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "10.0.0.5", 1);
  ::setenv("MASTER_PORT", "29555", 1);
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  ::setenv("TORCHELASTIC_RESTART_COUNT", "2", 1);
  EXPECT_TRUE(is_worker_process());
  auto o = dist_options_from_env();
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.world, 4);
  EXPECT_EQ(o.local_rank, 1);
  EXPECT_EQ(o.local_world, 2);
  EXPECT_EQ(o.nnodes, 2);
  EXPECT_EQ(o.master_addr, "10.0.0.5");
  EXPECT_EQ(o.master_port, 29555);
  EXPECT_TRUE(o.use_agent_store);
  EXPECT_EQ(o.restart_count, 2);
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(dist_options_from_env(), Error);
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(dist_options_from_env(), Error);
  for (const char* v :
       {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
        "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"}) {
    ::unsetenv(v);
  }
  EXPECT_FALSE(is_worker_process());
}

TEST(ProcessGroup, ElasticErrorFileGetsTheMessageAsJson) {
  test::TempDir dir;
  write_elastic_error_file("not written: variable unset");
  ::setenv("TORCHELASTIC_ERROR_FILE", (dir / "error.json").c_str(), 1);
  write_elastic_error_file("all_reduce failed on rank 0 of 2: lost connection to rank 1");
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
  std::ifstream f(dir / "error.json");
  ASSERT_TRUE(f);
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["message"], "all_reduce failed on rank 0 of 2: lost connection to rank 1");
  // torchrun's agent parses it with int(error_file_data["timestamp"]): Unix seconds, as a number
  // (an ISO date string made torchrun itself crash when it read the file of a failed worker).
  ASSERT_TRUE(j["timestamp"].is_number_integer()) << j.dump();
  EXPECT_GT(j["timestamp"].get<std::int64_t>(), 1600000000);
}

}  // namespace
}  // namespace tdml::dist
