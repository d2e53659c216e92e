// SPDX-License-Identifier: MIT
// Verilator harness of a board top with a UART link: it plays the host's serial port.
//
// The top module (compiled with --prefix Vtop) has the ports clk (the UART's clock), accel_clk
// (the accelerator's clock), rst_n, uart_rx (input), uart_tx (output) and error (output).
// The harness stands in for the board's PLL: it drives accel_clk at ACCEL_RATIO times the
// frequency of clk, starting a third of its period after clk, so that the edges of the two
// clocks drift past each other (unless the ratio makes them meet).
//
// usage: sim SCRIPT OUT N_OUT HOST_PERIOD MAX_CYCLES IDLE_LIMIT ACCEL_RATIO
//   SCRIPT : what the host does, in order, one item a line:
//              "B <hex>"  send this byte on uart_rx
//              "W <n>"    wait until n bytes have been received from uart_tx
//              "G <n>"    leave the line idle for n clock cycles
//   OUT    : written: "R <cycle> <hex>" per byte received from uart_tx,
//            "F <cycle>" per byte with a bad start or stop bit (a framing error at the host),
//            and at the end "X <error>" (the board's sticky error output)
//   N_OUT  : stop once this many bytes were received (and the script is done)
//   HOST_PERIOD: the host's bit period in clock cycles (may be fractional: a host
//            baud rate off the board's); the host also samples uart_tx with it, mid-bit
//   MAX_CYCLES: give up (exit code 3) after this many cycles
//   IDLE_LIMIT: give up (exit code 3) after this many cycles with no bit sent or received
//   ACCEL_RATIO: accel_clk frequency / clk frequency (> 0)
// Cycles are cycles of clk.
// After N_OUT bytes the harness runs 30 more bit periods, so extra bytes are recorded too.
// Exit code 0 when N_OUT bytes were received.

#include "Vtop.h"
#include "verilated.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

struct Item { char kind; long value; };

int main(int argc, char** argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s SCRIPT OUT N_OUT HOST_PERIOD MAX_CYCLES IDLE_LIMIT ACCEL_RATIO\n", argv[0]);
        return 2;
    }
    VerilatedContext ctx;
    ctx.commandArgs(1, argv);
    ctx.randReset(2);
    Vtop top(&ctx);

    std::vector<Item> script;
    {
        std::ifstream f(argv[1]);
        std::string line;
        while (std::getline(f, line)) {
            std::istringstream ls(line);
            std::string kind, value;
            if (!(ls >> kind >> value)) continue;
            script.push_back(Item{kind[0], strtol(value.c_str(), nullptr, kind[0] == 'B' ? 16 : 10)});
        }
    }
    FILE* out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 2; }
    const long n_out = atol(argv[3]);
    const double period = atof(argv[4]);
    const long max_cycles = atol(argv[5]);
    const long idle_limit = atol(argv[6]);
    const double accel_period = 1.0 / atof(argv[7]);  // in clk periods
    if (!(accel_period > 0)) { fprintf(stderr, "ACCEL_RATIO must be > 0\n"); return 2; }

    // One clk cycle: clk falls at t + 0.5 and rises at t + 1; accel_clk's edges in between
    // come in time order. Each rising edge of either clock is its own eval.
    double accel_edge = accel_period / 3;   // next edge of accel_clk (rising when accel_clk is low)
    double t = 0;
    auto clk_cycle = [&]() {
        bool clk_fell = false;
        while (true) {
            const double clk_edge = t + (clk_fell ? 1.0 : 0.5);
            if (accel_edge < clk_edge) {
                top.accel_clk = !top.accel_clk;
                accel_edge += accel_period / 2;
            } else if (!clk_fell) {
                top.clk = 0;
                clk_fell = true;
            } else {
                top.clk = 1;
                top.eval();
                break;
            }
            top.eval();
        }
        t += 1.0;
    };

    top.clk = 1;
    top.accel_clk = 0;
    top.rst_n = 0;
    top.uart_rx = 1;
    // hold reset for 8 cycles of the slower clock, so that both sides of the clock crossing see it
    const long reset_cycles = (long)std::ceil(8 * std::max(1.0, accel_period));
    for (long i = 0; i < reset_cycles; ++i) clk_cycle();
    top.rst_n = 1;

    // host transmitter
    size_t pos = 0;            // next script item
    long tx_start = -1;        // cycle the byte on the line started, -1: none
    int tx_bits = 0;           // the 10 bits of that byte, LSB first
    long gap_end = -1;
    // host receiver
    long rx_start = -1;        // cycle of the falling edge of the start bit
    int rx_next = 0;           // next bit to sample (0 start .. 9 stop)
    int rx_shift = 0;
    bool rx_ok = true;
    int prev_line = 1;
    long got = 0, done_at = -1, last_activity = 0, cycle = 0;
    for (; cycle < max_cycles; ++cycle) {
        // host transmitter: next item
        while (tx_start < 0 && gap_end < 0 && pos < script.size()) {
            const Item& it = script[pos];
            if (it.kind == 'B') {
                tx_start = cycle;
                tx_bits = ((it.value & 0xff) << 1) | (1 << 9);
                ++pos;
            } else if (it.kind == 'G') {
                gap_end = cycle + it.value;
                ++pos;
            } else if (it.kind == 'W') {
                if (got >= it.value) ++pos; else break;
            } else {
                ++pos;
            }
        }
        if (gap_end >= 0 && cycle >= gap_end) gap_end = -1;
        int line = 1;
        if (tx_start >= 0) {
            const long bit = (long)std::floor((cycle - tx_start) / period);
            if (bit >= 10) {
                tx_start = -1;
                // the next byte starts in this cycle if there is one
                if (pos < script.size() && script[pos].kind == 'B') {
                    tx_start = cycle;
                    tx_bits = ((script[pos].value & 0xff) << 1) | (1 << 9);
                    ++pos;
                    line = 0;
                }
            } else {
                line = (tx_bits >> bit) & 1;
            }
            last_activity = cycle;
        }
        top.uart_rx = line;
        clk_cycle();

        // host receiver: sample uart_tx mid-bit
        const int txl = top.uart_tx;
        if (rx_start < 0) {
            if (prev_line && !txl) { rx_start = cycle; rx_next = 0; rx_shift = 0; rx_ok = true; }
        } else {
            last_activity = cycle;
            const double when = rx_start + (rx_next + 0.5) * period;
            if (cycle >= (long)std::floor(when)) {
                if (rx_next == 0) rx_ok = (txl == 0);
                else if (rx_next <= 8) rx_shift |= txl << (rx_next - 1);
                else {
                    if (rx_ok && txl) {
                        fprintf(out, "R %ld %02x\n", cycle, rx_shift);
                        ++got;
                    } else {
                        fprintf(out, "F %ld\n", cycle);
                    }
                    rx_start = -1;
                }
                ++rx_next;
            }
        }
        prev_line = txl;

        const bool script_done = pos >= script.size() && tx_start < 0 && gap_end < 0;
        if (got >= n_out && script_done && done_at < 0) done_at = cycle;
        if (done_at >= 0 && cycle - done_at > (long)(30 * period) && rx_start < 0) break;
        if (idle_limit > 0 && done_at < 0 && cycle - last_activity > idle_limit) break;
    }
    fprintf(out, "X %d\n", (int)top.error);
    top.final();
    fclose(out);
    if (done_at < 0) {
        fprintf(stderr, "uart harness: timeout after %ld cycles: %ld of %ld bytes received, "
                "%zu of %zu script items done\n", cycle, got, n_out, pos, script.size());
        return 3;
    }
    return 0;
}
