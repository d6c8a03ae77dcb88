// A strict reader of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text-based format") for the
// metrics tests: it refuses what a lenient scraper would let through, so a test that reads
// kmsd's /metrics with it fails on any format slip.
//
// Checked: metric and label names (the format's grammar); label values only with the escapes
// \\, \" and \n; every sample belongs to a family with exactly one HELP and one TYPE line given
// before its first sample; counters are named *_total; no sample (name + labels) repeats; a
// family's samples are contiguous; per histogram series (labels without le) the buckets have
// increasing le ending in +Inf with non-decreasing counts, +Inf equals _count, and _sum and
// _count exist. Throws std::runtime_error naming the line.
#pragma once

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kms::test {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Family {
    std::string type;
    std::string help;
    std::vector<Sample> samples;
};

using Exposition = std::map<std::string, Family>;

namespace exposition_detail {

inline bool name_char(char c, bool first, bool colon) {
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

inline bool valid_name(const std::string& n, bool colon) {
    if (n.empty()) return false;
    for (std::size_t i = 0; i < n.size(); ++i)
        if (!name_char(n[i], i == 0, colon)) return false;
    return true;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline double parse_value(const std::string& v, const std::string& where) {
    if (v == "+Inf") return INFINITY;
    if (v == "-Inf") return -INFINITY;
    if (v == "NaN") return NAN;
    std::size_t pos = 0;
    double d = 0;
    try {
        d = std::stod(v, &pos);
    } catch (const std::exception&) {
        throw std::runtime_error(where + ": bad value '" + v + "'");
    }
    if (pos != v.size()) throw std::runtime_error(where + ": bad value '" + v + "'");
    return d;
}

}  // namespace exposition_detail

/// Parses and checks @p text (see the file comment). Throws std::runtime_error.
inline Exposition parse_exposition(const std::string& text) {
    using namespace exposition_detail;
    Exposition out;
    std::set<std::string> seen_samples;
    std::set<std::string> closed_families;  // families whose samples ended
    std::string current;                    // family of the previous sample
    std::istringstream in(text);
    std::string line;
    int n = 0;
    if (text.empty() || text.back() != '\n') throw std::runtime_error("text must end in \\n");
    while (std::getline(in, line)) {
        ++n;
        const std::string where = "line " + std::to_string(n) + " '" + line + "'";
        if (line.empty()) continue;
        if (line[0] == '#') {
            std::istringstream ls(line.substr(1));
            std::string kw, name;
            ls >> kw >> name;
            if (kw != "HELP" && kw != "TYPE") continue;  // a plain comment
            if (!valid_name(name, true)) throw std::runtime_error(where + ": bad metric name");
            std::string rest;
            std::getline(ls, rest);
            if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
            auto& f = out[name];
            if (!f.samples.empty())
                throw std::runtime_error(where + ": " + kw + " after the family's samples");
            if (kw == "HELP") {
                if (!f.help.empty()) throw std::runtime_error(where + ": second HELP");
                if (rest.empty()) throw std::runtime_error(where + ": empty HELP");
                f.help = rest;
            } else {
                if (!f.type.empty()) throw std::runtime_error(where + ": second TYPE");
                if (rest != "counter" && rest != "gauge" && rest != "histogram" &&
                    rest != "summary" && rest != "untyped")
                    throw std::runtime_error(where + ": unknown type");
                f.type = rest;
                if (rest == "counter" && !ends_with(name, "_total"))
                    throw std::runtime_error(where + ": a counter's name must end in _total");
            }
            continue;
        }
        Sample s;
        std::size_t i = 0;
        while (i < line.size() && name_char(line[i], i == 0, true)) ++i;
        s.name = line.substr(0, i);
        if (!valid_name(s.name, true)) throw std::runtime_error(where + ": bad metric name");
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                const std::size_t b = i;
                while (i < line.size() && name_char(line[i], i == b, false)) ++i;
                const std::string label = line.substr(b, i - b);
                if (!valid_name(label, false) || i + 1 >= line.size() || line[i] != '=' ||
                    line[i + 1] != '"')
                    throw std::runtime_error(where + ": bad label");
                i += 2;
                std::string value;
                for (;;) {
                    if (i >= line.size()) throw std::runtime_error(where + ": open label value");
                    const char c = line[i++];
                    if (c == '"') break;
                    if (c == '\\') {
                        if (i >= line.size()) throw std::runtime_error(where + ": bad escape");
                        const char e = line[i++];
                        if (e == '\\' || e == '"')
                            value += e;
                        else if (e == 'n')
                            value += '\n';
                        else
                            throw std::runtime_error(where + ": bad escape \\" + e);
                    } else {
                        value += c;
                    }
                }
                if (!s.labels.emplace(label, value).second)
                    throw std::runtime_error(where + ": label " + label + " twice");
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (i >= line.size()) throw std::runtime_error(where + ": open label set");
            ++i;  // '}'
        }
        if (i >= line.size() || line[i] != ' ') throw std::runtime_error(where + ": no value");
        std::string value = line.substr(i + 1);
        const auto sp = value.find(' ');  // an optional timestamp
        if (sp != std::string::npos) value = value.substr(0, sp);
        s.value = parse_value(value, where);

        // The family: the name itself, or for histogram parts the name without the suffix.
        std::string fam = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!out.count(fam) && ends_with(s.name, suffix)) {
                const std::string base =
                    s.name.substr(0, s.name.size() - std::string(suffix).size());
                if (out.count(base) && out[base].type == "histogram") fam = base;
            }
        auto it = out.find(fam);
        if (it == out.end() || it->second.type.empty())
            throw std::runtime_error(where + ": sample without a TYPE line");
        if (it->second.help.empty()) throw std::runtime_error(where + ": sample without HELP");
        if (fam != current) {
            if (closed_families.count(fam))
                throw std::runtime_error(where + ": samples of " + fam + " are not contiguous");
            if (!current.empty()) closed_families.insert(current);
            current = fam;
        }
        if (it->second.type == "histogram" && s.name == fam)
            throw std::runtime_error(where + ": a histogram has only _bucket, _sum, _count");
        if (s.name.size() > 6 && ends_with(s.name, "_bucket") && !s.labels.count("le"))
            throw std::runtime_error(where + ": a bucket without le");
        std::string key = s.name;
        for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
        if (!seen_samples.insert(key).second) throw std::runtime_error(where + ": repeated sample");
        it->second.samples.push_back(std::move(s));
    }
    // Histograms: per series, buckets increasing, ending in +Inf == _count, with _sum.
    for (const auto& [name, f] : out) {
        if (f.type != "histogram") continue;
        struct Series {
            std::vector<std::pair<double, double>> buckets;
            double count = -1, sum = NAN;
        };
        std::map<std::map<std::string, std::string>, Series> series;
        for (const auto& s : f.samples) {
            auto labels = s.labels;
            if (s.name == name + "_bucket") {
                const std::string le = labels["le"];
                labels.erase("le");
                series[labels].buckets.emplace_back(parse_value(le, name + " le"), s.value);
            } else if (s.name == name + "_count") {
                series[labels].count = s.value;
            } else if (s.name == name + "_sum") {
                series[labels].sum = s.value;
            }
        }
        for (const auto& [labels, se] : series) {
            if (se.buckets.empty() || !std::isinf(se.buckets.back().first))
                throw std::runtime_error(name + ": a series does not end in le=\"+Inf\"");
            for (std::size_t i = 1; i < se.buckets.size(); ++i) {
                if (!(se.buckets[i].first > se.buckets[i - 1].first))
                    throw std::runtime_error(name + ": le not increasing");
                if (se.buckets[i].second < se.buckets[i - 1].second)
                    throw std::runtime_error(name + ": bucket counts not cumulative");
            }
            if (se.count != se.buckets.back().second)
                throw std::runtime_error(name + ": +Inf bucket != _count");
            if (std::isnan(se.sum) || se.sum < 0) throw std::runtime_error(name + ": no _sum");
        }
    }
    return out;
}

/// The value of the sample @p name with exactly @p labels, or 0 when there is none (a counter
/// not yet incremented has no series).
inline double sample_value(const Exposition& e, const std::string& family, const std::string& name,
                           const std::map<std::string, std::string>& labels) {
    const auto it = e.find(family);
    if (it == e.end()) return 0;
    for (const auto& s : it->second.samples)
        if (s.name == name && s.labels == labels) return s.value;
    return 0;
}

}  // namespace kms::test
