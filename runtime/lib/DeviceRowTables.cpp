//===- DeviceRowTables.cpp ------------------------------------------------===//
#include "sieve/runtime/DeviceRowTables.h"

#include "sieve/runtime/RowTables.h"

namespace sieve::runtime {

DeviceRowTables::~DeviceRowTables() {
  for (CuDevicePtr p : address_)
    if (p)
      (void)driver_.free(p); // nothing to report to at teardown
}

Expected<std::unique_ptr<DeviceRowTables>> DeviceRowTables::upload(const CudaDriver &driver,
                                                                   const BlockMask &mask,
                                                                   int64_t seqQ,
                                                                   CausalRule causal) {
  if (seqQ <= 0 || seqQ > mask.queryBlocks() * mask.blockQ())
    return Error(ErrorCode::ShapeMismatch, "query length " + std::to_string(seqQ) +
                                               " does not fit the mask's " +
                                               std::to_string(mask.queryBlocks()) +
                                               " query blocks of " + std::to_string(mask.blockQ()));
  RowTables t = buildRowTables(mask.packedBits().data(), mask.heads(), mask.queryBlocks(),
                               mask.keyBlocks(), mask.blockQ(), mask.blockK(), seqQ, causal);
  std::unique_ptr<DeviceRowTables> d(new DeviceRowTables(driver));
  d->heads_ = mask.heads();
  d->queryBlocks_ = mask.queryBlocks();
  d->keyBlocks_ = mask.keyBlocks();
  d->blockQ_ = mask.blockQ();
  d->blockK_ = mask.blockK();
  d->seqQ_ = seqQ;
  d->causal_ = causal;
  const std::vector<int32_t> *tables[4] = {&t.heads, &t.queryBlocks, &t.spans, &t.keyBlocks};
  for (int i = 0; i < 4; ++i) {
    // An empty key list still gets one entry: zero-byte allocations fail.
    size_t entries = std::max<size_t>(tables[i]->size(), 1);
    auto p = driver.alloc(entries * sizeof(int32_t));
    if (!p)
      return p.error().withContext("uploading the mask's row tables");
    d->address_[i] = *p;
    d->length_[i] = static_cast<int64_t>(tables[i]->size());
    if (!tables[i]->empty())
      if (Error e = driver.copyToDevice(*p, tables[i]->data(), tables[i]->size() * sizeof(int32_t)))
        return e.withContext("uploading the mask's row tables");
  }
  return d;
}

} // namespace sieve::runtime
