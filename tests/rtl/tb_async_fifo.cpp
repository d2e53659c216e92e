// SPDX-License-Identifier: MIT
// Verilator harness of async_fifo (tests/rtl/test_async_fifo.py): two free-running clocks.
//
// usage: sim WIDTH N S_PERIOD M_PERIOD P_VALID P_READY SEED
//   N words (random, of the FIFO's WIDTH <= 64 bits) are offered on s_axis, valid with probability P_VALID at each
//   s_clk edge; m_axis is ready with probability P_READY at each m_clk edge. The periods are in
//   arbitrary time units (their ratio is what matters); m_clk starts a third of a period late, so
//   the edges of the two clocks drift past each other.
// Checks, printing "FAIL ..." and exiting 1: words come out in order and unchanged, m_axis_tdata is
// held while valid && !ready, nothing comes out that was not put in. Prints "OK <s_cycles> <m_cycles>".

#include "Vtop.h"
#include "verilated.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>

int main(int argc, char** argv) {
    if (argc < 8) { fprintf(stderr, "usage: %s WIDTH N S_PERIOD M_PERIOD P_VALID P_READY SEED\n", argv[0]); return 2; }
    const int width = atoi(argv[1]);
    const uint64_t mask = width >= 64 ? ~0ull : (1ull << width) - 1;
    const long n = atol(argv[2]);
    const double sp = atof(argv[3]), mp = atof(argv[4]);
    const double p_valid = atof(argv[5]), p_ready = atof(argv[6]);
    std::mt19937_64 rng(atol(argv[7]));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    VerilatedContext ctx;
    ctx.randReset(2);
    Vtop top(&ctx);

    std::deque<uint64_t> sent;
    long put = 0, got = 0, s_cycles = 0, m_cycles = 0;
    uint64_t word = rng() & mask;
    bool held = false;
    uint64_t held_data = 0;
    top.s_clk = 0; top.m_clk = 0; top.s_rst_n = 0; top.m_rst_n = 0;
    top.s_axis_tvalid = 0; top.m_axis_tready = 0; top.s_axis_tdata = 0;
    double ts = 0.0, tm = mp / 3.0;  // next rising edge of each clock
    const long reset_edges = 8;
    while (got < n) {
        const bool s_edge = ts <= tm;  // the next rising edge is s_clk's
        // only rising edges matter to the design: each clock is low until its next one
        top.s_clk = 0; top.m_clk = 0; top.eval();
        if (s_edge) {
            // inputs change just before the edge, as if from flip-flops of this domain
            top.s_rst_n = s_cycles >= reset_edges;
            top.s_axis_tvalid = (put < n && s_cycles >= reset_edges && u(rng) < p_valid) || (top.s_axis_tvalid && !top.s_axis_tready);
            top.s_axis_tdata = word;
            top.eval();
            const bool push = top.s_axis_tvalid && top.s_axis_tready && top.s_rst_n;
            top.s_clk = 1; top.eval();
            if (push) { sent.push_back(word); ++put; word = rng() & mask; }
            ++s_cycles; ts += sp;
        } else {
            top.m_rst_n = m_cycles >= reset_edges;
            top.m_axis_tready = m_cycles >= reset_edges && u(rng) < p_ready;
            top.eval();
            const bool valid = top.m_axis_tvalid && top.m_rst_n;
            const uint64_t data = top.m_axis_tdata;
            if (valid && held && data != held_data) { printf("FAIL data changed while not ready at word %ld\n", got); return 1; }
            if (valid && top.m_axis_tready) {
                if (sent.empty()) { printf("FAIL word %ld out before it went in\n", got); return 1; }
                if (data != sent.front()) {
                    printf("FAIL word %ld: got %llx want %llx\n", got, (unsigned long long)data,
                           (unsigned long long)sent.front());
                    return 1;
                }
                sent.pop_front(); ++got; held = false;
            } else {
                held = valid; held_data = data;
            }
            top.m_clk = 1; top.eval();
            ++m_cycles; tm += mp;
        }
        if (s_cycles + m_cycles > 200 * (n + 100) * (sp > mp ? sp / mp : mp / sp)) { printf("FAIL timeout after %ld words\n", got); return 1; }
    }
    top.final();
    printf("OK %ld %ld\n", s_cycles, m_cycles);
    return 0;
}
