// SPDX-License-Identifier: MIT
// Verilator harness of tests/tb_board_reset.v (the generated board wrapper hw_bnn_fpga): it plays
// the host's UART and the reset button from configuration on, and records the wrapper's reset.
//
// usage: sim SCRIPT OUT N_OUT CLKS_PER_BIT MAX_CYCLES TAIL
//   SCRIPT : what happens, in order, one item a line:
//              "B <hex>"  the host sends this byte on uart_rx (8N1)
//              "E <hex>"  the host sends this byte with a low stop bit (a framing error at the board)
//              "W <n>"    wait until n bytes have been received from uart_tx
//              "G <n>"    leave the line and the button idle for n clock cycles
//              "P <n>"    hold the button pressed for n clock cycles (n rising edges see it)
//              "Q <n>"    a glitch: the button is pressed and released between two rising
//                         edges (while clk is low), then n idle cycles
//              "R <n>"    wait until rst_n is high (the reset released)
//   OUT    : written, in order of time:
//              "S <edge> <name> <value>" the value of rst_n, error or in_frame after rising
//                         edge <edge> (0 = the first edge after configuration), whenever it
//                         changes; edge -1 gives the values at configuration
//              "P <edge> <n>"  a press seen at edges <edge> .. <edge> + n - 1
//              "Q <edge>"      a glitch between edges <edge> - 1 and <edge>
//              "R <edge> <hex>" a byte received from uart_tx (sampled mid-bit)
//              "F <edge>"      a byte from uart_tx with a bad start or stop bit
//   N_OUT  : stop once this many bytes were received and the script is done, TAIL cycles later
//   CLKS_PER_BIT: the UART bit period in clock cycles (the host's and the board's)
//   MAX_CYCLES: give up (exit code 3) after this many cycles
// Exit code 0 when the script finished and N_OUT bytes were received.

#include "Vtop.h"
#include "verilated.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

struct Item { char kind; long value; };

int main(int argc, char** argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s SCRIPT OUT N_OUT CLKS_PER_BIT MAX_CYCLES TAIL\n", argv[0]);
        return 2;
    }
    VerilatedContext ctx;
    ctx.commandArgs(1, argv);
    // registers without an initial value start random: the wrapper's reset must clear them
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
            const bool hex = kind[0] == 'B' || kind[0] == 'E';
            script.push_back(Item{kind[0], strtol(value.c_str(), nullptr, hex ? 16 : 10)});
        }
    }
    FILE* out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 2; }
    const long n_out = atol(argv[3]);
    const long period = atol(argv[4]);
    const long max_cycles = atol(argv[5]);
    const long tail = atol(argv[6]);

    // configuration: the values before the first rising edge
    top.clk = 0;
    top.pressed = 0;
    top.uart_rx = 1;
    top.eval();
    int seen[3] = {top.rst_n, top.error, top.in_frame};
    const char* names[3] = {"rst_n", "error", "in_frame"};
    for (int i = 0; i < 3; ++i) fprintf(out, "S -1 %s %d\n", names[i], seen[i]);

    size_t pos = 0;
    long tx_start = -1, tx_bits = 0;       // host transmitter: the byte on the line (10 bits, LSB first)
    long idle_end = -1, press_end = -1;    // cycle an idle gap / a press ends
    long rx_start = -1, rx_next = 0, rx_shift = 0;
    bool rx_ok = true;
    int prev_tx = 1;
    long got = 0, done_at = -1, edge = 0;
    for (; edge < max_cycles; ++edge) {
        bool glitch = false;
        // next script items (those that take no time are done at once)
        while (tx_start < 0 && idle_end < 0 && press_end < 0 && pos < script.size()) {
            const Item& it = script[pos];
            if (it.kind == 'B' || it.kind == 'E') {
                tx_start = edge;
                tx_bits = ((it.value & 0xff) << 1) | (it.kind == 'B' ? (1 << 9) : 0);
            } else if (it.kind == 'G') {
                idle_end = edge + it.value;
            } else if (it.kind == 'P') {
                press_end = edge + it.value;
                fprintf(out, "P %ld %ld\n", edge, it.value);
            } else if (it.kind == 'Q') {
                glitch = true;
                idle_end = edge + it.value;
                fprintf(out, "Q %ld\n", edge);
            } else if (it.kind == 'W') {
                if (got < it.value) break;
            } else if (it.kind == 'R') {
                if (!top.rst_n) break;
            }
            ++pos;
        }
        if (idle_end >= 0 && edge >= idle_end) idle_end = -1;
        if (press_end >= 0 && edge >= press_end) press_end = -1;
        int line = 1;
        if (tx_start >= 0) {
            const long bit = (edge - tx_start) / period;
            if (bit < 10) line = (tx_bits >> bit) & 1;
            if (edge - tx_start == 10 * period - 1) tx_start = -1;  // the stop bit's last cycle
        }
        top.uart_rx = line;
        top.pressed = press_end >= 0;
        top.clk = 0;
        top.eval();
        if (glitch) {  // pressed and released while clk is low: no rising edge sees it
            top.pressed = 1;
            top.eval();
            top.pressed = 0;
            top.eval();
        }
        top.clk = 1;
        top.eval();

        const int now[3] = {top.rst_n, top.error, top.in_frame};
        for (int i = 0; i < 3; ++i) {
            if (now[i] != seen[i]) fprintf(out, "S %ld %s %d\n", edge, names[i], now[i]);
            seen[i] = now[i];
        }
        // host receiver: uart_tx sampled in the middle of each bit
        const int txl = top.uart_tx;
        if (rx_start < 0) {
            if (prev_tx && !txl) { rx_start = edge; rx_next = 0; rx_shift = 0; rx_ok = true; }
        } else if (edge - rx_start == rx_next * period + period / 2) {
            if (rx_next == 0) rx_ok = txl == 0;
            else if (rx_next <= 8) rx_shift |= txl << (rx_next - 1);
            else {
                if (rx_ok && txl) { fprintf(out, "R %ld %02lx\n", edge, rx_shift); ++got; }
                else fprintf(out, "F %ld\n", edge);
                rx_start = -1;
            }
            ++rx_next;
        }
        prev_tx = txl;

        const bool script_done = pos >= script.size() && tx_start < 0 && idle_end < 0 && press_end < 0;
        if (script_done && got >= n_out && done_at < 0) done_at = edge;
        if (done_at >= 0 && edge - done_at >= tail && rx_start < 0) break;
    }
    top.final();
    fclose(out);
    if (done_at < 0) {
        fprintf(stderr, "tb_board_reset: timeout after %ld cycles: %ld of %ld bytes received, %zu of %zu "
                "script items done\n", edge, got, n_out, pos, script.size());
        return 3;
    }
    return 0;
}
