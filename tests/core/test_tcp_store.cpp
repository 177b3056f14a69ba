// The c10d::TCPStore rendezvous on 127.0.0.1 (CPU, runs in CI): a rank-0
// server and a rank-1 client exchange values; a missing key and a missing
// server fail in time with messages naming the key / host:port.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlopt/core/tcp_store.h"

namespace {

using mlopt::parallel::KeyValueStore;
using mlopt::parallel::World;
using namespace std::chrono_literals;

// A port nobody listens on right now: the kernel's pick for port 0.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("bind/getsockname on 127.0.0.1 failed");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

World world_of(int rank, int size, int port) {
  World w;
  w.rank = rank;
  w.world_size = size;
  w.local_world_size = size;
  w.local_rank = rank;
  w.master_addr = "127.0.0.1";
  w.master_port = port;
  return w;
}

#define SKIP_WITHOUT_C10D() \
  if (!mlopt::tcp_store_available()) GTEST_SKIP() << "this libtorch has no c10d (distributed) support"

TEST(TcpStore, Rank0AndRank1ExchangeValues) {
  SKIP_WITHOUT_C10D();
  const int port = free_port();
  const std::vector<unsigned char> id = {0, 1, 2, 250, 255, 7, 0, 42};
  const std::vector<unsigned char> reply = {9, 8, 7};
  std::vector<unsigned char> rank1_got, rank0_got;
  std::exception_ptr rank0_error, rank1_error;
  std::thread rank0([&] {
    try {
      auto store = mlopt::tcp_store(world_of(0, 2, port), 20s);
      store->set("mlopt/test/id", id);
      rank0_got = store->get("mlopt/test/reply", 20s);  // keeps the server up until rank 1 is done
    } catch (...) {
      rank0_error = std::current_exception();
    }
  });
  std::thread rank1([&] {
    try {
      auto store = mlopt::tcp_store(world_of(1, 2, port), 20s);  // may start before the server: it retries
      rank1_got = store->get("mlopt/test/id", 20s);
      store->set("mlopt/test/reply", reply);
    } catch (...) {
      rank1_error = std::current_exception();
    }
  });
  rank0.join();
  rank1.join();
  for (const auto& e : {rank0_error, rank1_error}) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      FAIL() << x.what();
    }
  }
  EXPECT_EQ(rank1_got, id);
  EXPECT_EQ(rank0_got, reply);
}

TEST(TcpStore, AMissingKeyTimesOutNamingTheKey) {
  SKIP_WITHOUT_C10D();
  const int port = free_port();
  auto store = mlopt::tcp_store(world_of(0, 1, port), 20s);
  const auto start = std::chrono::steady_clock::now();
  try {
    store->get("mlopt/test/never_set", 300ms);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mlopt/test/never_set"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
    EXPECT_EQ(msg.find("frame #"), std::string::npos) << "a backtrace in the message: " << msg;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(TcpStore, AnUnreachableServerIsReportedWithHostAndPort) {
  SKIP_WITHOUT_C10D();
  const int port = free_port();  // nobody serves it
  try {
    mlopt::tcp_store(world_of(1, 2, port), 500ms);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
    EXPECT_NE(msg.find("MASTER_ADDR/MASTER_PORT"), std::string::npos) << msg;
  }
}

}  // namespace
