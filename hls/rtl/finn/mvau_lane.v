// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// mvau_lane -- one output lane of mvau.v: the partial dot product of one
// input beat (SIMD elements) with one channel's SIMD weights, pipelined.
//
//   XNOR = 1                : term = XNOR(x, W), 1 bit (bit 1 = +1); the
//                             root is the popcount of the agreements.
//   XNOR = 0, WEIGHT_W = 1  : term = W ? x : -x, IN_W + 1 bits, signed.
//   XNOR = 0, WEIGHT_W > 1  : term = W * x, IN_W + WEIGHT_W bits, signed,
//                             registered (stage M) before the tree.
// The terms are summed by adder_tree.v (a register every REG_EVERY adder
// levels and at the root; the negation of the bipolar integer terms counts
// as a level).  The root is TERM_W + clog2(SIMD) bits, exact.
//
// mvau.v instantiates one lane per output channel of a beat (PE, plus the
// count lane of COUNT = 1 with its weights tied to all ones), so a synthesis
// tool elaborates the lane once per distinct parameter set: Yosys'
// elaboration time grows faster than linearly with the number of generate
// blocks nested in generate loops, which PE x SIMD terms in mvau.v itself
// would be (minutes at PE x SIMD = 7168).
//
// Parameters: SIMD, XNOR, IN_W, IN_SIGNED, WEIGHT_W as in mvau.v; REG_EVERY
// the adder levels between registers (mvau.v's TREE_K).
//
// Interface: not a stream; every register runs free (mvau.v's pipeline has
// no enable).  `root` is the dot product of the `x` and `w` presented STAGES
// clock edges earlier, STAGES = mvau.v's D_T:
//   (WEIGHT_W > 1: 1 for the products) + registered tree levels, or 1 for
//   SIMD = 1 without products.
//
// Packing: element s of x at bits [s*IN_W +: IN_W]; its weight at bits
// [s*WEIGHT_W +: WEIGHT_W] of w (WEIGHT_W = 1: 1 = +1, 0 = -1; else two's
// complement).
// Reset: none (data registers only; mvau.v delays the valid bits).
// Used by: mvau.v.
// Submodules: adder_tree (adder_tree.v).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module mvau_lane #(
    // Elements per beat, >= 1.
    parameter SIMD = 4,
    // 1: XNOR-popcount of 1-bit elements; 0: integer elements.
    parameter XNOR = 1,
    // Element width in bits (1 when XNOR = 1).
    parameter IN_W = 1,
    // XNOR = 0 only: 1 if elements are two's complement.
    parameter IN_SIGNED = 0,
    // Weight width: 1 = bipolar/binary bits; > 1 = two's complement (XNOR = 0).
    parameter WEIGHT_W = 1,
    // At most this many adder levels between registers, >= 1.
    parameter REG_EVERY = 3
) (
    input  wire                       clk,      // rising edge

    input  wire [SIMD*IN_W-1:0]       x,
    input  wire [SIMD*WEIGHT_W-1:0]   w,
    output wire [((XNOR != 0) ? 1 : (WEIGHT_W == 1) ? IN_W + 1 : IN_W + WEIGHT_W)
                 + ((SIMD > 1) ? $clog2(SIMD) : 0) - 1:0] root
);

localparam TERM_W = (XNOR != 0) ? 1 : (WEIGHT_W == 1) ? IN_W + 1 : IN_W + WEIGHT_W;
localparam TERM_SIGNED = (XNOR != 0) ? 0 : 1;
localparam LV = (SIMD > 1) ? $clog2(SIMD) : 0;
localparam MUL_REG = (XNOR == 0 && WEIGHT_W > 1) ? 1 : 0;
// the bipolar integer terms' negation counts as an adder level
localparam TREE_OFF = (XNOR == 0 && WEIGHT_W == 1) ? 1 : 0;

// Level-0 terms, SIMD of TERM_W bits: term s at bits [s*TERM_W +: TERM_W].
wire [SIMD*TERM_W-1:0] terms;

genvar gs;
generate
    if (XNOR != 0) begin : g_xnor
        assign terms = ~(x ^ w[SIMD-1:0]);
        if (WEIGHT_W > 1) begin : g_wide
            // illegal (WEIGHT_W > 1 requires XNOR = 0, checked by mvau.v); the
            // unused weight bits are sunk so that it elaborates
            wire unused_wide = &{1'b0, w};
        end
    end else if (WEIGHT_W > 1) begin : g_mul
        // Stage M: term = W * x, registered.  x (zero- or sign-extended) and W
        // (sign-extended) are both extended to TERM_W = IN_W + WEIGHT_W bits;
        // the TERM_W-bit product of the extensions is the low TERM_W bits of
        // the exact product, which fits TERM_W bits signed (|W * x| <=
        // 2^(TERM_W - 1) - 1 for unsigned x, <= 2^(TERM_W - 2) for signed x),
        // so it is the exact product in two's complement.  (Synthesis trims the
        // multiplier to the operands' real widths: same LUTs / DSPs as a signed
        // (IN_W + 1) x WEIGHT_W multiplication.)
        wire [SIMD*TERM_W-1:0] prod;
        reg  [SIMD*TERM_W-1:0] prod_q;
        for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_s
            wire [IN_W-1:0]     xs = x[gs*IN_W +: IN_W];
            wire [WEIGHT_W-1:0] ws = w[gs*WEIGHT_W +: WEIGHT_W];
            wire                x_fill = (IN_SIGNED != 0) && xs[IN_W-1];
            wire [TERM_W-1:0]   x_ext = {{WEIGHT_W{x_fill}}, xs};
            wire [TERM_W-1:0]   w_ext = {{IN_W{ws[WEIGHT_W-1]}}, ws};
            assign prod[gs*TERM_W +: TERM_W] = x_ext * w_ext;
        end
        always @(posedge clk) begin
            prod_q <= prod;
        end
        assign terms = prod_q;
    end else begin : g_int
        // term = W ? x : -x, IN_W + 1 bits, two's complement
        for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_s
            wire [TERM_W-1:0] xe = {(IN_SIGNED != 0) && x[gs*IN_W+IN_W-1], x[gs*IN_W +: IN_W]};
            assign terms[gs*TERM_W +: TERM_W] = w[gs] ? xe : {TERM_W{1'b0}} - xe;
        end
    end

    if (LV > 0) begin : g_tree
        adder_tree #(
            .N(SIMD), .TERM_W(TERM_W), .SIGNED(TERM_SIGNED),
            .REG_EVERY(REG_EVERY), .LEVEL_OFFSET(TREE_OFF)
        ) u_tree (
            .clk(clk),
            .terms(terms),
            .sum(root)
        );
    end else if (MUL_REG == 0) begin : g_reg
        // SIMD = 1: the root is the term itself, registered once
        reg [TERM_W-1:0] q;
        always @(posedge clk) begin
            q <= terms;
        end
        assign root = q;
    end else begin : g_mul_root
        // SIMD = 1 with registered products: the root is the product register
        assign root = terms;
    end
endgenerate

endmodule

`resetall
