// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// hyper_mac_layer -- MACS multiply-accumulate lanes, each followed by its
// threshold quantiser: one layer of the hyper-function of hyper_function.v
// (layer 1: a1 = W1 . p, h = #{k : a1 >= HT[k]}; layer 2: a2 = W2 . h,
// code = #{k : a2 >= OT[k]}), MACS output rows at a time.
//
// A pass over one block of MACS rows feeds the inputs x[0], x[1], ... one per
// cycle with `en` high, `first` high with x[0]; lane l multiplies x by its
// weight w_l of the cycle and accumulates:
//     acc_l = first ? w_l * x : acc_l + w_l * x      (ACC_W bits, signed)
// The products are exact (x sign- or zero-extended, see X_SIGNED) and then
// sign-extended or truncated to ACC_W bits; the caller sizes ACC_W for the
// exact range of the sums, so nothing wraps.  The quantised level of lane l
// is, combinationally from its accumulator and the thresholds given,
//     level_l = #{k : acc_l >= T_l[k]},  k = 0 .. N_THR-1
// (signed compares, each threshold on its own: unsorted thresholds are
// counted exactly), valid from the cycle after the last input of the pass.
//
// Parameters:
//   MACS     lanes (rows per pass), >= 1
//   X_W      width of the input x in bits, >= 1
//   X_SIGNED 1: x is two's complement; 0: unsigned (zero-extended by a bit)
//   WT_W     width of the weights in bits (two's complement), >= 2
//   ACC_W    width of the accumulators and thresholds (two's complement), >= 2
//   N_THR    thresholds per lane, >= 1
//   LEVEL_W  width of a level in bits (unsigned), 2^LEVEL_W > N_THR
//
// Interface: not a stream (the parent's state machine sequences the passes).
// Packing: lane l of w_word at bits [l*WT_W +: WT_W]; threshold k of lane l
// of thr_word at [(l*N_THR + k)*ACC_W +: ACC_W]; level of lane l at
// [l*LEVEL_W +: LEVEL_W].
//
// Timing: the accumulators are registers (one clock edge per input); the
// products and the quantisers are combinational.
//
// Reset: none (every pass starts with `first`).
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hyper_mac_layer #(
    // Lanes (rows per pass), >= 1.
    parameter MACS = 1,
    // Input width in bits, >= 1, and its signedness (1: two's complement).
    parameter X_W = 3,
    parameter X_SIGNED = 1,
    // Weight width in bits (two's complement), >= 2.
    parameter WT_W = 4,
    // Accumulator and threshold width in bits (two's complement), >= 2.
    parameter ACC_W = 12,
    // Thresholds per lane, >= 1.
    parameter N_THR = 3,
    // Level width in bits (unsigned), 2^LEVEL_W > N_THR.
    parameter LEVEL_W = 2
) (
    input  wire                         clk,        // rising edge

    input  wire                         en,         // accumulate this cycle
    input  wire                         first,      // x is the first input of a pass
    input  wire [X_W-1:0]               x,
    input  wire [MACS*WT_W-1:0]         w_word,
    input  wire [MACS*N_THR*ACC_W-1:0]  thr_word,
    output wire [MACS*LEVEL_W-1:0]      level
);

localparam XE_W = (X_SIGNED != 0) ? X_W : X_W + 1;     // x as a signed operand
localparam P_W = WT_W + XE_W;                           // exact product width
localparam CNT_W = $clog2(N_THR + 1);

initial begin
    if (MACS < 1 || X_W < 1 || WT_W < 2 || ACC_W < 2 || N_THR < 1 || LEVEL_W < CNT_W ||
        (X_SIGNED != 0 && X_SIGNED != 1)) begin
        $error("hyper_mac_layer: illegal parameters (instance %m)");
        $finish;
    end
end

wire signed [XE_W-1:0] xs;
generate
    if (X_SIGNED != 0) begin : g_signed
        assign xs = x;
    end else begin : g_unsigned
        assign xs = {1'b0, x};
    end
endgenerate

genvar l;
generate
    for (l = 0; l < MACS; l = l + 1) begin : g_lane
        wire signed [WT_W-1:0] w = w_word[l*WT_W +: WT_W];
        wire signed [P_W-1:0]  p = w * xs;
        wire signed [ACC_W-1:0] product;
        if (P_W >= ACC_W) begin : g_trunc
            /* verilator lint_off UNUSEDSIGNAL */  // ACC_W bits hold every sum of products
            wire [P_W-1:0] p_bits = p;
            /* verilator lint_on UNUSEDSIGNAL */
            assign product = p_bits[ACC_W-1:0];
        end else begin : g_sext
            assign product = {{(ACC_W-P_W){p[P_W-1]}}, p};
        end

        reg signed [ACC_W-1:0] acc;
        always @(posedge clk) begin
            if (en)
                acc <= first ? product : acc + product;
        end

        reg [CNT_W-1:0] count;
        integer k;
        always @* begin
            count = {CNT_W{1'b0}};
            for (k = 0; k < N_THR; k = k + 1)
                count = count + {{(CNT_W-1){1'b0}}, acc >= $signed(thr_word[(l*N_THR + k)*ACC_W +: ACC_W])};
        end
        if (LEVEL_W > CNT_W) begin : g_wide
            assign level[l*LEVEL_W +: LEVEL_W] = {{(LEVEL_W-CNT_W){1'b0}}, count};
        end else begin : g_exact
            assign level[l*LEVEL_W +: LEVEL_W] = count;
        end
    end
endgenerate

endmodule

`resetall
