//===- MaskBindings.cpp - _sieve.Mask: runtime::BlockMask -----------------===//
//
// The native half of sieve.BlockMask: construction and validation, mask
// files and random masks are the runtime's, so Python reads and checks
// exactly what the CLI and the C API do. numpy conversions live in Python.
//
//===----------------------------------------------------------------------===//
#include "Bindings.h"
#include "Errors.h"

#include "sieve/runtime/Limits.h"
#include "sieve/runtime/MaskFile.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

namespace sieve::python {

using runtime::BlockMask;

namespace {

nb::bytes bitsOf(const BlockMask &m) {
  const std::vector<uint8_t> &bits = m.packedBits();
  return nb::bytes(reinterpret_cast<const char *>(bits.data()), bits.size());
}

/// The sidecar's facts, as read_mask_file hands them to Python.
nb::dict metaOf(const runtime::MaskFileMeta &meta) {
  nb::dict d;
  d["block_q"] = meta.blockQ;
  d["block_k"] = meta.blockK;
  d["seq_q"] = meta.seqQ;
  d["seq_k"] = meta.seqK;
  d["layers"] = meta.layers;
  return d;
}

} // namespace

void bindMask(nb::module_ &m) {
  nb::class_<BlockMask>(m, "Mask", "One bit per (head, query block, key block) tile.")
      .def_static(
          "from_bits",
          [](int64_t heads, int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ, int64_t blockK,
             nb::bytes bits) {
            return unwrap(BlockMask::fromPackedBits(heads, queryBlocks, keyBlocks, blockQ, blockK,
                                                    reinterpret_cast<const uint8_t *>(bits.c_str()),
                                                    bits.size()));
          },
          nb::arg("heads"), nb::arg("query_blocks"), nb::arg("key_blocks"), nb::arg("block_q"),
          nb::arg("block_k"), nb::arg("bits"),
          "From packed bits: tile n is bit n % 8 of byte n / 8, row-major over (head, query "
          "block, key block).")
      .def_static(
          "random",
          [](int64_t heads, int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ, int64_t blockK,
             double density, uint64_t seed, bool keepDiagonal) {
            // BlockMask::random takes a shape known to be valid: check it
            // here (a bad one is an error naming it, not an exception from
            // inside), against the limit masks have at compile time.
            check(runtime::checkMaskTiles(heads, queryBlocks, keyBlocks));
            unwrap(BlockMask::create(1, 1, 1, blockQ, blockK));
            return BlockMask::random(heads, queryBlocks, keyBlocks, blockQ, blockK, density, seed,
                                     keepDiagonal);
          },
          nb::arg("heads"), nb::arg("query_blocks"), nb::arg("key_blocks"), nb::arg("block_q"),
          nb::arg("block_k"), nb::arg("density"), nb::arg("seed"), nb::arg("keep_diagonal"))
      .def_static(
          "read",
          [](const std::string &path, int64_t layer) {
            runtime::MaskFileMeta meta;
            BlockMask mask = unwrap(runtime::readMaskFile(path, layer, &meta));
            return nb::make_tuple(std::move(mask), metaOf(meta));
          },
          nb::arg("path"), nb::arg("layer") = 0,
          "Reads one layer of a mask file (docs/mask-format.md): (mask, sidecar facts).")
      .def_static(
          "read_stack",
          [](const std::string &path) {
            runtime::MaskFileMeta meta;
            std::vector<BlockMask> layers = unwrap(runtime::readMaskStack(path, &meta));
            return nb::make_tuple(std::move(layers), metaOf(meta));
          },
          nb::arg("path"))
      .def(
          "save",
          [](const BlockMask &mask, const std::string &path, std::optional<int64_t> seqQ,
             std::optional<int64_t> seqK) {
            check(runtime::writeMaskFile(path, mask, seqQ, seqK));
          },
          nb::arg("path"), nb::arg("seq_q") = nb::none(), nb::arg("seq_k") = nb::none())
      .def(
          "check_covers",
          [](const BlockMask &mask, int64_t headsQ, int64_t seqQ, int64_t seqK) {
            check(mask.checkCovers(headsQ, seqQ, seqK));
          },
          nb::arg("heads_q"), nb::arg("seq_q"), nb::arg("seq_k"))
      .def_prop_ro("heads", &BlockMask::heads)
      .def_prop_ro("query_blocks", &BlockMask::queryBlocks)
      .def_prop_ro("key_blocks", &BlockMask::keyBlocks)
      .def_prop_ro("block_q", &BlockMask::blockQ)
      .def_prop_ro("block_k", &BlockMask::blockK)
      .def_prop_ro("bits", &bitsOf)
      .def("count_kept", &BlockMask::countKept);
}

} // namespace sieve::python
