// Armadillo's gmm_diag EM, timed for `fastgmm bench --peers armadillo`.
//
// Usage: armadillo_gmm_diag X_FILE DTYPE N D K PARAMS_FILE A B REPEAT VAR_FLOOR
//
// X_FILE holds X as raw C-ordered N x D values of DTYPE (float64 or float32).
// That is the memory of a D x N column-major matrix, one column per point,
// which is how Armadillo wants the data: it is read straight into the
// matrix, never transposed or copied. PARAMS_FILE holds raw float64 initial
// weights (K), means (K x D, C order) and diagonal covariances (K x D).
//
// For each of REPEAT rounds, learn() runs A and then B EM iterations from
// those parameters (set_params before every run, not timed); only learn()
// itself is timed, with a steady clock. Prints one JSON line: the times,
// the thread count, and the model after the last B-iteration run
// (avg_log_p on X, hefts, means and dcovs in C order, K x D), and how many
// EM iterations learn() really ran for A and for B: it stops early once an
// iteration changes the mean log-likelihood by at most machine epsilon.
// They are counted in one more, untimed, verbose run of each, whose
// per-iteration lines Armadillo writes to std::cout or std::cerr (0 when
// none show).
#include <armadillo>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "armadillo_gmm_diag: %s\n", msg.c_str());
  std::exit(2);
}

template <typename T>
void read_exactly(const char* path, T* out, std::size_t count) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) fail(std::string("cannot open ") + path);
  const std::size_t got = std::fread(out, sizeof(T), count, f);
  const bool extra = std::fgetc(f) != EOF;
  std::fclose(f);
  if (got != count || extra) fail(std::string("unexpected size of ") + path);
}

void print_list(const char* name, const double* values, std::size_t count) {
  std::printf(", \"%s\": [", name);
  for (std::size_t i = 0; i < count; ++i) std::printf(i ? ", %.17g" : "%.17g", values[i]);
  std::printf("]");
}

template <typename eT>
int run(char** argv) {
  const arma::uword n = std::strtoull(argv[3], nullptr, 10);
  const arma::uword d = std::strtoull(argv[4], nullptr, 10);
  const arma::uword k = std::strtoull(argv[5], nullptr, 10);
  const arma::uword iters[2] = {std::strtoull(argv[7], nullptr, 10),
                                std::strtoull(argv[8], nullptr, 10)};
  const long repeat = std::strtol(argv[9], nullptr, 10);
  const eT var_floor = static_cast<eT>(std::strtod(argv[10], nullptr));
  if (n == 0 || d == 0 || k == 0 || repeat < 1) fail("N, D, K and REPEAT must be positive");

  arma::Mat<eT> X(d, n);  // column j = point j = row j of the C-ordered file
  read_exactly(argv[1], X.memptr(), static_cast<std::size_t>(n * d));

  std::vector<double> params(k + 2 * k * d);
  read_exactly(argv[6], params.data(), params.size());
  // K x D in C order is D x K column-major: one column per component.
  const arma::Row<eT> hefts = arma::conv_to<arma::Row<eT>>::from(
      arma::rowvec(params.data(), k));
  const arma::Mat<eT> means = arma::conv_to<arma::Mat<eT>>::from(
      arma::mat(params.data() + k, d, k));
  const arma::Mat<eT> dcovs = arma::conv_to<arma::Mat<eT>>::from(
      arma::mat(params.data() + k + k * d, d, k));

  arma::gmm_priv::gmm_diag<eT> model;  // gmm_diag is <double>, fgmm_diag <float>
  std::vector<double> times[2];
  for (long r = 0; r < repeat; ++r) {
    for (int which = 0; which < 2; ++which) {
      model.set_params(means, dcovs, hefts);
      const auto start = std::chrono::steady_clock::now();
      // keep_existing + km_iter=0: EM only, from the parameters just set.
      const bool ok = model.learn(X, k, arma::maha_dist, arma::keep_existing, 0,
                                  iters[which], var_floor, false);
      const auto stop = std::chrono::steady_clock::now();
      if (!ok) fail("gmm_diag::learn() failed");
      times[which].push_back(std::chrono::duration<double>(stop - start).count());
    }
  }

  // learn() is deterministic: verbose re-runs make the same iterations.
  long ran[2] = {0, 0};
  for (int which = 0; which < 2; ++which) {
    model.set_params(means, dcovs, hefts);
    std::ostringstream log;
    std::streambuf* const saved_out = std::cout.rdbuf(log.rdbuf());
    std::streambuf* const saved_err = std::cerr.rdbuf(log.rdbuf());
    model.learn(X, k, arma::maha_dist, arma::keep_existing, 0, iters[which], var_floor, true);
    std::cout.rdbuf(saved_out);
    std::cerr.rdbuf(saved_err);
    const std::string text = log.str();
    for (std::size_t at = text.find("EM: iteration"); at != std::string::npos;
         at = text.find("EM: iteration", at + 1))
      ++ran[which];
  }

  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const arma::mat out_means = arma::conv_to<arma::mat>::from(model.means);
  const arma::mat out_dcovs = arma::conv_to<arma::mat>::from(model.dcovs);
  const arma::rowvec out_hefts = arma::conv_to<arma::rowvec>::from(model.hefts);
  std::printf("{\"threads\": %d, \"avg_log_p\": %.17g, \"ran_a\": %ld, \"ran_b\": %ld",
              threads, static_cast<double>(model.avg_log_p(X)), ran[0], ran[1]);
  print_list("t_a", times[0].data(), times[0].size());
  print_list("t_b", times[1].data(), times[1].size());
  print_list("weights", out_hefts.memptr(), k);
  print_list("means", out_means.memptr(), k * d);
  print_list("covariances", out_dcovs.memptr(), k * d);
  std::printf("}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11)
    fail("usage: armadillo_gmm_diag X_FILE DTYPE N D K PARAMS_FILE A B REPEAT VAR_FLOOR");
  const std::string dtype = argv[2];
  if (dtype == "float64") return run<double>(argv);
  if (dtype == "float32") return run<float>(argv);
  fail("DTYPE must be float64 or float32, got " + dtype);
}
