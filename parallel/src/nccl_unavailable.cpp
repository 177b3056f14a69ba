// The NCCL entry points of a build without NCCL: each says how to get one.
#include "mlopt/parallel/nccl.h"

namespace mlopt::parallel {
namespace {

[[noreturn]] void no_nccl() {
  throw NcclError(
      "this build of mlopt has no NCCL: install libnccl-dev (or "
      "set NCCL_ROOT) and reconfigure");
}

}  // namespace

bool nccl_available() { return false; }

struct NcclGroup::State {};

NcclGroup::NcclGroup(std::vector<int>) { no_nccl(); }
NcclGroup::~NcclGroup() = default;
int NcclGroup::size() const { no_nccl(); }
void NcclGroup::run(const std::function<void(Communicator&)>&) { no_nccl(); }

std::unique_ptr<Communicator> nccl_communicator(KeyValueStore&, const World&, int) { no_nccl(); }
std::unique_ptr<Communicator> nccl_communicator(KeyValueStore&, const World&, int, std::chrono::milliseconds) {
  no_nccl();
}

}  // namespace mlopt::parallel
