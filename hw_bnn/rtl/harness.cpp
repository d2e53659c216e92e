// SPDX-License-Identifier: MIT
// Generic Verilator harness for one AXI-Stream-in / AXI-Stream-out module.
//
// The top module (compiled with --prefix Vtop) must have the ports clk, rst_n,
// s_axis_tdata/tvalid/tready and m_axis_tdata/tvalid/tready; any width works.
//
// usage: sim IN_FILE OUT_FILE N_OUT SEED P_VALID P_READY MAX_CYCLES
//            [IDLE_LIMIT [TRACE TRACE_BEATS [PACE_CYCLES PACE_BEATS [LOG_INPUTS]]]]
//   IN_FILE : binary, little-endian 32-bit words: the number of words per beat,
//             then the beats, each that many words, word 0 holding bits 0..31
//             (element 0 in the LSBs); words beyond the port's width must be 0
//   OUT_FILE: written: "I <cycle>" per accepted input beat (LOG_INPUTS 1, the
//             default) and "O <cycle> <hex>" per output beat, in order; then
//             "N <accepted input beats> <cycle of the first>"
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
//   LOG_INPUTS: 0: no "I" line per input beat (a whole-design run of many
//             frames takes hundreds of thousands of input beats; the "N" line
//             says how many)
// Built with HW_BNN_STREAM_BEATS, the top has a `stream_beats` port of beat
// counters; on a timeout the harness writes them as a line "S <hex>".
// Built with HW_BNN_FIFO_PEAKS, the top has a `fifo_peaks` port with each
// FIFO's highest occupancy; the harness writes it at the end as "P <hex>".
// The run ends once N_OUT beats were received, every input beat was taken,
// and then no beat came for twice the longest gap between two output beats (at
// least 64 cycles): with two frames or more, an extra frame would have come out
// by then. Exit code 0 then, 4 when extra output beats came; the caller checks
// the "N" line for input beats the design never took (the run also ends after
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

// port setters/getters for every Verilator port type (a beat is n words)
template <typename T> static void set_port(T& p, const uint32_t* w, std::size_t n) {
    uint64_t v = 0;
    if (n > 0) v |= w[0];
    if (n > 1) v |= (uint64_t)w[1] << 32;
    p = (T)v;
}
template <std::size_t N> static void set_port(VlWide<N>& p, const uint32_t* w, std::size_t n) {
    for (std::size_t i = 0; i < N; ++i) p[i] = i < n ? w[i] : 0;
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

    // the input beats: a header word (words per beat), then the words
    Words words;
    std::size_t beat_words = 1;
    {
        std::ifstream f(argv[1], std::ios::binary);
        uint32_t header = 0;
        if (!f.read(reinterpret_cast<char*>(&header), sizeof header) || header == 0) {
            fprintf(stderr, "harness: %s has no words-per-beat header\n", argv[1]);
            return 2;
        }
        beat_words = header;
        f.seekg(0, std::ios::end);
        const std::streamoff bytes = (std::streamoff)f.tellg() - (std::streamoff)sizeof header;
        words.resize((std::size_t)bytes / sizeof(uint32_t));
        f.seekg(sizeof header, std::ios::beg);
        f.read(reinterpret_cast<char*>(words.data()), (std::streamsize)(words.size() * sizeof(uint32_t)));
    }
    const std::size_t n_beats = words.size() / beat_words;
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
    const bool log_inputs = argc > 13 ? atol(argv[13]) != 0 : true;
    // full rate draws no random numbers (the common case, and the fastest)
    const bool random_valid = p_valid < 1.0, random_ready = p_ready < 1.0;
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
    long first_in = -1;
    bool offering = false;
    long got = 0, extra = 0;
    long cycle = 0, last_activity = 0;
    // the drain watch after the last beat: twice the longest gap between expected output beats
    long last_out = -1, watch = 64;
    for (; cycle < max_cycles; ++cycle) {
        top.clk = 0;
        // source: once valid, hold until accepted
        const bool due = pace_cycles == 0 || cycle >= (long)((double)in_idx * pace_cycles / pace_beats);
        if (!offering && in_idx < n_beats && due && (!random_valid || uni(rng) < p_valid)) {
            offering = true;
            set_port(top.s_axis_tdata, &words[in_idx * beat_words], beat_words);
        }
        top.s_axis_tvalid = offering ? 1 : 0;
        top.m_axis_tready = (!random_ready || uni(rng) < p_ready) ? 1 : 0;
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
            if (log_inputs) fprintf(out, "I %ld\n", cycle);
            if (in_idx == 0) first_in = cycle;
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
        if (got == n_out && in_idx == n_beats && cycle - last_activity >= watch) break;
        if (idle_limit > 0 && cycle - last_activity > idle_limit) break;
#ifdef HW_BNN_TRACE
        if (trace && got >= trace_beats) { trace->close(); delete trace; trace = nullptr; }
#endif
    }
    fprintf(out, "N %zu %ld\n", in_idx, first_in);
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
                cycle, got, n_out, in_idx, n_beats);
        return 3;
    }
    return 0;
}
