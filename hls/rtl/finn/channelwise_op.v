// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// channelwise_op -- a per-channel constant added to or multiplied with every
// element (FINN node `ElementwiseAdd` / `ElementwiseMul` with a constant
// right-hand side, FINN's former `ChannelwiseOp`): y = x + c[ch] (OP = 0) or
// y = x * c[ch] (OP = 1).  In the residual networks it flips the sign of the
// channels whose BatchNorm scale is negative where a max-pool sits between
// the accumulator and the threshold unit.
//
// Channels are folded onto PE lanes: the stream carries, per pixel, NF = C/PE
// beats of PE channels (FINN's folded shape (..., NF, PE)).  Inputs are sign-
// (IN_SIGNED = 1) or zero-extended to OUT_W bits, constants sign-extended,
// and the result is computed in OUT_W bits; the caller makes OUT_W wide
// enough for the exact result, so it is exact.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready (one global enable).
//
// Packing (FINN convention): element p of a beat at bits [p*W +: W], element 0
// in the LSBs, two's complement for signed values.
//
// Timing: one beat per cycle; latency 1 cycle.
//
// Memory file ($readmemh, one hex word per line):
//   PARAM_FILE: NF words of PE*PARAM_W bits; word nf holds, at bits
//               [p*PARAM_W +: PARAM_W], the constant of channel nf*PE + p,
//               two's complement (the layout of a thresholding.v memory with
//               one threshold per channel: hw_bnn/rtl/memfiles.py
//               write_thresholds).
//
// Reset: rst_n synchronous, active low; clears the valid bit and the counter.
// Submodules: fold_param_rom (fold_param_rom.v), the constants' memory and its
// fold counter (asynchronous read: the constant is used in the cycle its beat
// is taken).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module channelwise_op #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Input element width in bits, 1 .. 32; 1 if two's complement, 0 if unsigned.
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    // Constant width in bits (two's complement), 2 .. 32.
    parameter PARAM_W = 2,
    // Output element width in bits, 1 .. 48, and its signedness (documentation only).
    parameter OUT_W = 9,
    parameter OUT_SIGNED = 1,
    // 0: add the constant, 1: multiply by it.
    parameter OP = 1,
    // Path of the constants' memory file (see header).
    parameter PARAM_FILE = "params.mem"
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire [PE*IN_W-1:0]   s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam NF = C / PE;

initial begin
    if (C < 1 || PE < 1 || C % PE != 0 || IN_W < 1 || IN_W > 32 || PARAM_W < 2 || PARAM_W > 32 ||
        OUT_W < 1 || OUT_W > 48 || OP < 0 || OP > 1 || OUT_SIGNED < 0 || OUT_SIGNED > 1) begin
        $error("channelwise_op: illegal parameters (instance %m)");
        $finish;
    end
end

wire en = !m_axis_tvalid || m_axis_tready;
assign s_axis_tready = en;
wire take = en && s_axis_tvalid;

// the constants of the beat on s_axis_tdata
wire [PE*PARAM_W-1:0] c_word;
fold_param_rom #(
    .WIDTH(PE*PARAM_W), .DEPTH(NF), .FILE(PARAM_FILE), .REG_READ(0)
) u_params (
    .clk(clk),
    .rst_n(rst_n),
    .next(take),
    .word(c_word)
);

wire [PE*OUT_W-1:0] y;
genvar p;
generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
        wire [IN_W-1:0] x = s_axis_tdata[p*IN_W +: IN_W];
        wire [PARAM_W-1:0] c = c_word[p*PARAM_W +: PARAM_W];
        wire x_fill = (IN_SIGNED != 0) && x[IN_W-1];
        /* verilator lint_off UNUSEDSIGNAL */  // the upper bits only fill the extension
        wire [OUT_W+IN_W-1:0] x_ext = {{OUT_W{x_fill}}, x};
        wire [OUT_W+PARAM_W-1:0] c_ext = {{OUT_W{c[PARAM_W-1]}}, c};
        wire [2*OUT_W-1:0] product = x_ext[OUT_W-1:0] * c_ext[OUT_W-1:0];
        /* verilator lint_on UNUSEDSIGNAL */
        // modulo 2^OUT_W, the low bits of a product or sum are those of the exact result
        assign y[p*OUT_W +: OUT_W] = (OP == 1) ? product[OUT_W-1:0] : x_ext[OUT_W-1:0] + c_ext[OUT_W-1:0];
    end
endgenerate

reg [PE*OUT_W-1:0] y_q;
reg                y_v;
always @(posedge clk) begin
    if (take)
        y_q <= y;
    if (en)
        y_v <= s_axis_tvalid;
    if (!rst_n)
        y_v <= 1'b0;
end

assign m_axis_tdata = y_q;
assign m_axis_tvalid = y_v;

endmodule

`resetall
