#include "support/tls_certificates.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace redcoro::test {
namespace {

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("certificate generation failed: " + command);
}

// Makes a key and a certificate signed by `ca` (self-signed when `ca` is empty).
void make_certificate(const std::string& dir, const std::string& name, const std::string& subject,
                      const std::string& ca, const std::string& extensions) {
  const std::string key = dir + "/" + name + ".key", cert = dir + "/" + name + ".crt";
  run("openssl ecparam -name prime256v1 -genkey -noout -out " + key);
  if (ca.empty()) {
    run("openssl req -x509 -new -key " + key + " -days 3 -subj '" + subject + "' -out " + cert +
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
    return;
  }
  const std::string csr = dir + "/" + name + ".csr", ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << extensions;
  run("openssl req -new -key " + key + " -subj '" + subject + "' -out " + csr);
  run("openssl x509 -req -in " + csr + " -CA " + dir + "/" + ca + ".crt -CAkey " + dir + "/" + ca +
      ".key -CAcreateserial -days 3 -extfile " + ext + " -out " + cert);
}

struct generated {
  tls_certificates certs;

  generated() {
    const char* tmp = std::getenv("TMPDIR");
    std::string buf = std::string(tmp && *tmp ? tmp : "/tmp") + "/redcoro-tls.XXXXXX";
    if (!mkdtemp(buf.data())) throw std::runtime_error("cannot create a directory for certificates");
    const std::string d = buf;
    make_certificate(d, "ca", "/CN=redcoro test CA", "", "");
    make_certificate(d, "server", "/CN=localhost", "ca",
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    make_certificate(d, "client", "/CN=redcoro test client", "ca", "extendedKeyUsage=clientAuth\n");
    make_certificate(d, "other_ca", "/CN=unrelated test CA", "", "");
    certs = {d,
             d + "/ca.crt",
             d + "/ca.key",
             d + "/server.crt",
             d + "/server.key",
             d + "/client.crt",
             d + "/client.key",
             d + "/other_ca.crt"};
  }

  ~generated() {
    std::error_code ec;
    std::filesystem::remove_all(certs.dir, ec);
  }
};

}  // namespace

const tls_certificates& tls_certificates::get() {
  static const generated g;  // generated once; removed at exit
  return g.certs;
}

}  // namespace redcoro::test
