// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// adder_tree -- pipelined balanced adder tree: the sum of N terms, with a
// register after every REG_EVERY adder levels and at the root.
//
// Level l (1 .. LV, LV = clog2(N)) adds the nodes of level l-1 in pairs
// (an odd last node passes through), one bit wider per level, so the root of
// TERM_W + LV bits holds the exact sum of any N terms of TERM_W bits (signed
// two's complement if SIGNED, else unsigned).
//
// One instance per lane (mvau.v instantiates PE of them): keeping the tree in
// its own module makes a synthesis tool elaborate it once per distinct
// parameter set rather than once per lane.  Yosys' elaboration time grows
// faster than linearly with the number of generate blocks nested inside
// other generate loops; with the trees of all PE lanes in the parent's
// generate loops, an MVAU with PE x SIMD = 7168 took minutes to elaborate.
//
// Parameters:
//   N            terms, >= 2
//   TERM_W       term width in bits, >= 1
//   SIGNED       1: terms are two's complement; 0: unsigned
//   REG_EVERY    at most this many adder levels between registers, >= 1
//   LEVEL_OFFSET levels of logic the parent puts in front of the tree (e.g. a
//                negation), counted towards the first register: level l is
//                registered if l == LV or (l + LEVEL_OFFSET) % REG_EVERY == 0
//
// Terms of one unsigned bit (XNOR-popcount lanes): the levels up to the
// first register are one $countones per node of that level, the same sums
// and the same registers.  Verilator evaluates the whole tree every clock
// cycle, and a popcount is a few machine instructions where the pairwise
// adders are a shift, mask and add per node: the popcount form simulates the
// XNOR MVAUs about twice as fast.  Synthesis maps both forms to the same
// adders.
//
// Interface: not a stream; every register runs free (the parent's pipeline
// has no enable).  `sum` is the sum of the `terms` presented STAGES clock
// edges earlier, STAGES = the number of registered levels.
//
// Packing: term i at bits [i*TERM_W +: TERM_W].
// Reset: none (data registers only; the parent delays its valid bits alongside).
// Used by: mvau.v.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module adder_tree #(
    // Terms, >= 2.
    parameter N = 8,
    // Term width in bits, >= 1.
    parameter TERM_W = 1,
    // 1: signed terms; 0: unsigned.
    parameter SIGNED = 0,
    // At most this many adder levels between registers, >= 1.
    parameter REG_EVERY = 3,
    // Logic levels in front of the tree counted towards the first register.
    parameter LEVEL_OFFSET = 0
) (
    input  wire                         clk,    // rising edge

    input  wire [N*TERM_W-1:0]          terms,
    output wire [TERM_W+$clog2(N)-1:0]  sum
);

localparam LV = $clog2(N);

// nodes of level l
function integer nodes;
    input integer l;
    begin
        nodes = (N + (1 << l) - 1) >> l;
    end
endfunction

// 1 if level l (1 .. LV) is registered
function integer is_reg;
    input integer l;
    begin
        is_reg = (l == LV || (l + LEVEL_OFFSET) % REG_EVERY == 0) ? 1 : 0;
    end
endfunction

// Terms of one unsigned bit: levels 1 .. POP_LV (the first registered level)
// are popcounts, and the levels before POP_LV have no nodes of their own.
localparam POPCOUNT = (TERM_W == 1 && SIGNED == 0) ? 1 : 0;
localparam FIRST_REG = REG_EVERY - LEVEL_OFFSET % REG_EVERY;
localparam POP_LV = (POPCOUNT == 0) ? 0 : (FIRST_REG < LV) ? FIRST_REG : LV;

// bits of level l in `tree`
function integer lvl_bits;
    input integer l;
    begin
        lvl_bits = (l >= 1 && l < POP_LV) ? 0 : nodes(l) * (TERM_W + l);
    end
endfunction

// bit offset of level l in `tree`: the root level LV at 0, level 0 last
function integer lvl_off;
    input integer l;
    integer k;
    begin
        lvl_off = 0;
        for (k = l + 1; k <= LV; k = k + 1)
            lvl_off = lvl_off + lvl_bits(k);
    end
endfunction

// level 0 (the terms) is last in `tree`
localparam TERMS_OFF = lvl_off(0);
localparam TREE_BITS = TERMS_OFF + N * TERM_W;

initial begin
    if (N < 2 || TERM_W < 1 || REG_EVERY < 1 || LEVEL_OFFSET < 0) begin
        $error("adder_tree: need N >= 2, TERM_W >= 1, REG_EVERY >= 1, LEVEL_OFFSET >= 0 (instance %m)");
        $finish;
    end
end

// All levels packed in `tree`: level l, node j at bits
// [lvl_off(l) + j*(TERM_W + l) +: TERM_W + l].
wire [TREE_BITS-1:0] tree;
assign tree[TREE_BITS-1 -: N*TERM_W] = terms;
assign sum = tree[0 +: TERM_W + LV];

genvar gl, gn;
generate
    for (gl = (POP_LV > 1) ? POP_LV : 1; gl <= LV; gl = gl + 1) begin : g_lvl
        localparam N_IN = nodes(gl - 1);
        localparam N_OUT = nodes(gl);
        localparam W_IN = TERM_W + gl - 1;
        localparam W_OUT = TERM_W + gl;
        localparam OFF_IN = lvl_off(gl - 1);
        localparam OFF_OUT = lvl_off(gl);
        wire [N_OUT*W_OUT-1:0] level_sum;
        for (gn = 0; gn < N_OUT; gn = gn + 1) begin : g_n
            if (gl == POP_LV) begin : g_pop
                // the ones among terms gn*2^gl .. (gn+1)*2^gl - 1 (the last node: up to term N - 1)
                localparam FIRST = gn << gl;
                localparam COUNT = (FIRST + (1 << gl) <= N) ? (1 << gl) : N - FIRST;
                // a short last node's count needs fewer bits: its upper bits are constant zeros
                localparam COUNT_W = $clog2(COUNT + 1);
                wire [COUNT_W-1:0] count = $countones(tree[TERMS_OFF + FIRST +: COUNT]);
                if (COUNT_W < W_OUT) begin : g_short
                    assign level_sum[gn*W_OUT +: W_OUT] = {{(W_OUT - COUNT_W){1'b0}}, count};
                end else begin : g_full
                    assign level_sum[gn*W_OUT +: W_OUT] = count;
                end
            end else begin : g_sum
                wire [W_IN-1:0]  a = tree[OFF_IN + 2*gn*W_IN +: W_IN];
                wire [W_OUT-1:0] ae = {(SIGNED != 0) && a[W_IN-1], a};
                if (2*gn + 1 < N_IN) begin : g_add
                    wire [W_IN-1:0]  b = tree[OFF_IN + (2*gn + 1)*W_IN +: W_IN];
                    wire [W_OUT-1:0] be = {(SIGNED != 0) && b[W_IN-1], b};
                    assign level_sum[gn*W_OUT +: W_OUT] = ae + be;
                end else begin : g_pass
                    assign level_sum[gn*W_OUT +: W_OUT] = ae;
                end
            end
        end
        if (is_reg(gl) != 0) begin : g_reg
            reg [N_OUT*W_OUT-1:0] q;
            always @(posedge clk) begin
                q <= level_sum;
            end
            assign tree[OFF_OUT +: N_OUT*W_OUT] = q;
        end else begin : g_comb
            assign tree[OFF_OUT +: N_OUT*W_OUT] = level_sum;
        end
    end
endgenerate

endmodule

`resetall
