#!/usr/bin/env python3
"""Turns micro_bench's JSON (Google Benchmark --benchmark_format=json) into the Markdown rows
benchmarks/run.sh prints, with ratios against the baselines measured in the same run:

  - "x raw CMAC": the step's cost in raw SoftHSM2 AES-CMACs (C_SignInit + C_Sign of 16 bytes
    through PKCS#11, BM_RawP11AesCmac16 with 1 thread): raw ops/s / the step's ops/s;
  - "x /healthz": the step's cost in /healthz requests (wrk -t2 -c32 over HTTPS in the same run,
    the trivial HTTPS endpoint): healthz req/s / the step's ops/s. 0.05 means the step costs a
    twentieth of serving one trivial HTTPS request on this machine.

Then the adapter-vs-raw rows (AES-CMAC through Pkcs11Hsm::mac() / raw C_Sign, 1 and 2 threads),
and the raw micro-benchmark against benchmarks/p11_baseline's figure of the same run.

Usage: micro_table.py MICRO_JSON HEALTHZ_REQ_PER_S P11_CMAC_1THREAD P11_CMAC_2THREADS
(a figure that was not measured may be given as "-"). Exit 1 when a benchmark reported an error."""
import json
import sys


def num(text):
    try:
        return float(text)
    except ValueError:
        return None


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def ratio(a, b, digits=2):
    return "-" if not a or not b else f"{a / b:.{digits}f}"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        runs = json.load(f)["benchmarks"]
    healthz, p11_1, p11_2 = (num(a) for a in sys.argv[2:5])
    # With --benchmark_repetitions the median of the repetitions is used (this VM is shared:
    # one repetition can be descheduled for a while).
    aggregated = any(r.get("run_type") == "aggregate" for r in runs)
    rates, errors = {}, []
    for r in runs:
        if r.get("error_occurred"):
            errors.append(f"{r['name']}: {r.get('error_message', '')}")
            continue
        if aggregated and r.get("aggregate_name") != "median":
            continue
        rates[r.get("run_name", r["name"])] = r.get("items_per_second")
    raw1 = rates.get("BM_RawP11AesCmac16/real_time/threads:1")
    raw2 = rates.get("BM_RawP11AesCmac16/real_time/threads:2")
    print("| micro-benchmark (Google Benchmark) | ops/s | time per op | x raw CMAC | x /healthz |")
    print("|---|---|---|---|---|")
    for name, rate in rates.items():
        if not rate:
            continue
        print(f"| `{name}` | {fmt_rate(rate)} | {fmt_time(1 / rate)} | {ratio(raw1, rate)} "
              f"| {ratio(healthz, rate, 3)} |")
    print()
    print("| baseline comparison | ratio |")
    print("|---|---|")
    for t, raw in ((1, raw1), (2, raw2)):
        adapter = rates.get(f"BM_AdapterAesCmac16/real_time/threads:{t}")
        print(f"| AES-CMAC 16 B, adapter / raw C_Sign, {t} thread(s), ops/s | "
              f"{fmt_rate(adapter or 0)} / {fmt_rate(raw or 0)} = **{ratio(adapter, raw)}** |")
    host = rates.get("BM_HostAesCmac16")
    print(f"| AES-CMAC 16 B, host OpenSSL / raw SoftHSM2 C_Sign, 1 thread | {ratio(host, raw1)} |")
    print(f"| raw C_Sign micro-benchmark / p11_baseline, 1 thread | {ratio(raw1, p11_1)} "
          f"({fmt_rate(raw1 or 0)} vs {sys.argv[3]}) |")
    print(f"| raw C_Sign micro-benchmark / p11_baseline, 2 threads | {ratio(raw2, p11_2)} "
          f"({fmt_rate(raw2 or 0)} vs {sys.argv[4]}) |")
    for e in errors:
        print(f"warning: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
