//===- Validators.cpp -----------------------------------------------------===//
#include "Validators.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace sieve::tools {

namespace {

/// The whole of `text` as a number, or NaN.
double wholeNumber(const std::string &text) {
  const char *begin = text.c_str();
  char *end = nullptr;
  double value = std::strtod(begin, &end);
  return end != begin && *end == '\0' ? value : std::nan("");
}

} // namespace

CLI::Validator sizeUpTo(int64_t limit, const char *what) {
  return CLI::Validator(
      [limit, what = std::string(what)](std::string &text) -> std::string {
        int64_t value = 0;
        if (!CLI::detail::lexical_cast(text, value))
          return fmt::format("{} is not a whole number", text);
        if (value < 1)
          return fmt::format("{} is not positive", value);
        if (value > limit)
          return fmt::format("{} is over the limit of {} {}", value, limit, what);
        return "";
      },
      fmt::format("in [1, {}]", limit));
}

CLI::Validator positiveFinite() {
  return CLI::Validator(
      [](std::string &text) -> std::string {
        double value = wholeNumber(text);
        if (!std::isfinite(value) || value <= 0)
          return fmt::format("{} is not a finite number above 0", text);
        return "";
      },
      "> 0");
}

CLI::Validator fractionOrPercent() {
  return CLI::Validator(
      [](std::string &text) -> std::string {
        bool percent = !text.empty() && text.back() == '%';
        double value = wholeNumber(percent ? text.substr(0, text.size() - 1) : text);
        if (std::isnan(value))
          return fmt::format("{} is not a number", text);
        if (percent)
          value /= 100.0;
        if (value < 0 || value > 1)
          return percent || value < 0
                     ? fmt::format("{} is not in [0, 1] (0% to 100%)", text)
                     : fmt::format("{} is not a fraction in [0, 1]; for a percent write {}% "
                                   "(or {:g})",
                                   text, text, value / 100.0);
        text = fmt::format("{:.17g}", value);
        return "";
      },
      "fraction in [0, 1] or percent (90%)");
}

} // namespace sieve::tools
