// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SHA-256 digests through OpenSSL's EVP API, used to check downloaded data files against their
/// published checksums.  Link OpenSSL's libcrypto: CMake `OpenSSL::Crypto`, or `-lcrypto`
/// (Debian package libssl-dev).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gluino/core/error.hpp"
#include "gluino/detail/precompiled.hpp"

// OpenSSL's digest context (EVP_MD_CTX in <openssl/evp.h>), named here so that this header
// does not need OpenSSL's headers where the bodies below are not compiled.
struct evp_md_ctx_st;

namespace gluino::data {

/// An incremental SHA-256: update() with any number of byte ranges, then hex_digest().
/// Gluon has no equivalent (mxnet.gluon.utils.check_sha1 uses SHA-1 on the file bytes).
class Sha256 {
 public:
  GLUINO_DATA_FUNC Sha256();
  /// Feeds n bytes.  StateError after hex_digest().
  GLUINO_DATA_FUNC void update(const void* data, std::size_t n);
  /// The digest as 64 lowercase hex digits.  Ends the computation; later calls return the same.
  GLUINO_DATA_FUNC std::string hex_digest();

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
  std::string hex_;
  bool done_ = false;
};

/// SHA-256 of n bytes, as 64 lowercase hex digits.
GLUINO_DATA_FUNC std::string sha256_hex(const void* data, std::size_t n);

}  // namespace gluino::data

// The bodies, which use OpenSSL: compiled where used, or once in the precompiled library
// (detail/precompiled.hpp).
#if GLUINO_DATA_FUNCTION_BODIES
#include <openssl/evp.h>

namespace gluino::data {

GLUINO_DATA_FUNC Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
  GLUINO_CHECK(Error, ctx_ != nullptr, "sha256: EVP_MD_CTX_new failed");
  GLUINO_CHECK(Error, EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1, "sha256: EVP_DigestInit_ex failed");
}

GLUINO_DATA_FUNC void Sha256::update(const void* data, std::size_t n) {
  GLUINO_CHECK(StateError, !done_, "sha256: update() after hex_digest()");
  if (n > 0) GLUINO_CHECK(Error, EVP_DigestUpdate(ctx_.get(), data, n) == 1, "sha256: EVP_DigestUpdate failed");
}

GLUINO_DATA_FUNC std::string Sha256::hex_digest() {
  if (!done_) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    GLUINO_CHECK(Error, EVP_DigestFinal_ex(ctx_.get(), md, &len) == 1, "sha256: EVP_DigestFinal_ex failed");
    static constexpr char hex[] = "0123456789abcdef";
    hex_.clear();
    for (unsigned int i = 0; i < len; ++i) {
      hex_ += hex[md[i] >> 4];
      hex_ += hex[md[i] & 15];
    }
    done_ = true;
  }
  return hex_;
}

GLUINO_DATA_FUNC std::string sha256_hex(const void* data, std::size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex_digest();
}

}  // namespace gluino::data
#endif  // GLUINO_DATA_FUNCTION_BODIES
