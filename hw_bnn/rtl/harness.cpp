// SPDX-License-Identifier: MIT
// Generic Verilator harness for one AXI-Stream-in / AXI-Stream-out module.
//
// The top module (compiled with --prefix Vtop) must have the ports clk, rst_n,
// s_axis_tdata/tvalid/tready and m_axis_tdata/tvalid/tready; any width works.
//
// usage: sim IN_FILE OUT_FILE N_OUT SEED P_VALID P_READY MAX_CYCLES
//            [IDLE_LIMIT [TRACE TRACE_BEATS [PACE_CYCLES PACE_BEATS]]]
//   IN_FILE : one input beat per line, hexadecimal (element 0 in the LSBs)
//   OUT_FILE: written: "I <cycle>" per accepted input beat and
//             "O <cycle> <hex>" per output beat, in order
//   N_OUT   : the number of output beats expected
//   SEED    : seed of the random valid gaps / ready stalls
//   P_VALID : probability that the source offers the next beat in a cycle
//   P_READY : probability that the sink is ready in a cycle
//   MAX_CYCLES: give up (exit code 3) after this many cycles
//   IDLE_LIMIT: end the run after this many cycles without any beat at the
//             input or the output (0: off): the stall watchdog (exit code 3
//             while output beats are missing)
//   TRACE, TRACE_BEATS: (built with HW_BNN_TRACE) write an FST waveform to TRACE
//             until TRACE_BEATS output beats have been seen ("-": none)
//   PACE_CYCLES, PACE_BEATS: input beat i is offered no earlier than cycle
//             i * PACE_CYCLES / PACE_BEATS: frames of PACE_BEATS beats spread
//             evenly over PACE_CYCLES each, the rate the design runs at
//             (PACE_CYCLES 0: as fast as the design takes them)
// Built with HW_BNN_STREAM_BEATS, the top has a `stream_beats` port of beat
// counters; on a timeout the harness writes them as a line "S <hex>".
// Built with HW_BNN_FIFO_PEAKS, the top has a `fifo_peaks` port with each
// FIFO's highest occupancy; the harness writes it at the end as "P <hex>".
// The run ends once N_OUT beats were received, every input beat was taken,
// and then no beat came for twice the longest gap between two output beats (at
// least 64 cycles): with two frames or more, an extra frame would have come out
// by then. Exit code 0 then, 4 when extra output beats came; the caller checks
// the "I" lines for input beats the design never took (the run also ends after
// IDLE_LIMIT quiet cycles or at MAX_CYCLES).

#include "Vtop.h"
#include "verilated.h"
#ifdef HW_BNN_TRACE
#include "verilated_fst_c.h"
#endif

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

typedef std::vector<uint32_t> Words;

static Words parse_hex(const std::string& s) {
    Words w;
    int bit = 0;
    uint32_t cur = 0;
    for (int i = (int)s.size() - 1; i >= 0; --i) {
        char c = s[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        cur |= (uint32_t)v << bit;
        bit += 4;
        if (bit == 32) { w.push_back(cur); cur = 0; bit = 0; }
    }
    if (bit) w.push_back(cur);
    return w;
}

static std::string to_hex(const Words& w) {
    std::string s;
    char buf[16];
    for (int i = (int)w.size() - 1; i >= 0; --i) {
        snprintf(buf, sizeof buf, "%08x", w[i]);
        s += buf;
    }
    size_t nz = s.find_first_not_of('0');
    return nz == std::string::npos ? std::string("0") : s.substr(nz);
}

// port setters/getters for every Verilator port type
template <typename T> static void set_port(T& p, const Words& w) {
    uint64_t v = 0;
    if (w.size() > 0) v |= w[0];
    if (w.size() > 1) v |= (uint64_t)w[1] << 32;
    p = (T)v;
}
template <std::size_t N> static void set_port(VlWide<N>& p, const Words& w) {
    for (std::size_t i = 0; i < N; ++i) p[i] = i < w.size() ? w[i] : 0;
}
template <typename T> static Words get_port(const T& p) {
    uint64_t v = (uint64_t)p;
    Words w;
    w.push_back((uint32_t)v);
    w.push_back((uint32_t)(v >> 32));
    return w;
}
template <std::size_t N> static Words get_port(const VlWide<N>& p) {
    Words w;
    for (std::size_t i = 0; i < N; ++i) w.push_back(p[i]);
    return w;
}

int main(int argc, char** argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s IN OUT N_OUT SEED P_VALID P_READY MAX_CYCLES\n", argv[0]);
        return 2;
    }
    VerilatedContext ctx;
    ctx.commandArgs(1, argv);
    // registers without reset start with random values (needs --x-initial unique)
    ctx.randReset(2);
    ctx.randSeed((int)atol(argv[4]) + 1);
    Vtop top(&ctx);

    std::vector<Words> beats;
    {
        std::ifstream f(argv[1]);
        std::string line;
        while (std::getline(f, line))
            if (!line.empty()) beats.push_back(parse_hex(line));
    }
    FILE* out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 2; }
    const long n_out = atol(argv[3]);
    std::mt19937 rng((uint32_t)atol(argv[4]));
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    const double p_valid = atof(argv[5]);
    const double p_ready = atof(argv[6]);
    const long max_cycles = atol(argv[7]);
    const long idle_limit = argc > 8 ? atol(argv[8]) : 0;
    const long pace_cycles = argc > 12 ? atol(argv[11]) : 0;
    const long pace_beats = argc > 12 ? atol(argv[12]) : 1;
#ifdef HW_BNN_TRACE
    ctx.traceEverOn(true);
    VerilatedFstC* trace = nullptr;
    const long trace_beats = argc > 10 ? atol(argv[10]) : 0;
    if (argc > 10 && std::string(argv[9]) != "-") {
        trace = new VerilatedFstC;
        top.trace(trace, 99);
        trace->open(argv[9]);
    }
    uint64_t tick = 0;
#define DUMP() do { if (trace) trace->dump(tick++); } while (0)
#else
#define DUMP() do {} while (0)
#endif

    // reset
    top.clk = 0;
    top.rst_n = 0;
    top.s_axis_tvalid = 0;
    top.m_axis_tready = 0;
    for (int i = 0; i < 4; ++i) {
        top.clk = 0; top.eval(); DUMP();
        top.clk = 1; top.eval(); DUMP();
    }
    top.rst_n = 1;

    size_t in_idx = 0;
    bool offering = false;
    long got = 0, extra = 0;
    long cycle = 0, last_activity = 0;
    // the drain watch after the last beat: twice the longest gap between expected output beats
    long last_out = -1, watch = 64;
    for (; cycle < max_cycles; ++cycle) {
        top.clk = 0;
        // source: once valid, hold until accepted
        const bool due = pace_cycles == 0 || cycle >= (long)((double)in_idx * pace_cycles / pace_beats);
        if (!offering && in_idx < beats.size() && due && uni(rng) < p_valid) offering = true;
        top.s_axis_tvalid = offering ? 1 : 0;
        if (offering) set_port(top.s_axis_tdata, beats[in_idx]);
        top.m_axis_tready = (uni(rng) < p_ready) ? 1 : 0;
        top.eval();
        DUMP();
        const bool in_fire = offering && top.s_axis_tready;
        const bool out_fire = top.m_axis_tvalid && top.m_axis_tready;
        Words od;
        if (out_fire) od = get_port(top.m_axis_tdata);
        top.clk = 1;
        top.eval();
        DUMP();
        if (in_fire || out_fire) last_activity = cycle;
        if (in_fire) {
            fprintf(out, "I %ld\n", cycle);
            ++in_idx;
            offering = false;
        }
        if (out_fire) {
            if (last_out >= 0 && got < n_out && 2 * (cycle - last_out) > watch) watch = 2 * (cycle - last_out);
            last_out = cycle;
            if (got < n_out) {
                fprintf(out, "O %ld %s\n", cycle, to_hex(od).c_str());
                ++got;
            } else {
                ++extra;
            }
        }
        if (got == n_out && in_idx == beats.size() && cycle - last_activity >= watch) break;
        if (idle_limit > 0 && cycle - last_activity > idle_limit) break;
#ifdef HW_BNN_TRACE
        if (trace && got >= trace_beats) { trace->close(); delete trace; trace = nullptr; }
#endif
    }
#ifdef HW_BNN_STREAM_BEATS
    if (got < n_out) fprintf(out, "S %s\n", to_hex(get_port(top.stream_beats)).c_str());
#endif
#ifdef HW_BNN_FIFO_PEAKS
    fprintf(out, "P %s\n", to_hex(get_port(top.fifo_peaks)).c_str());
#endif
#ifdef HW_BNN_TRACE
    if (trace) { trace->close(); delete trace; }
#endif
    top.final();
    fclose(out);
    if (extra) {
        fprintf(stderr, "harness: %ld unexpected extra output beats after the expected %ld\n", extra, n_out);
        return 4;
    }
    if (got < n_out) {
        fprintf(stderr, "harness: timeout after %ld cycles: %ld of %ld output beats, %zu of %zu input beats\n",
                cycle, got, n_out, in_idx, beats.size());
        return 3;
    }
    return 0;
}
