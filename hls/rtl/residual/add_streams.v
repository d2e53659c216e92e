// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// add_streams -- element-wise sum of two streams (FINN node `ElementwiseAdd`
// with both operands streamed; FINN's former `AddStreams`): the join of a
// residual block, y = a + b.
//
// Each beat holds PE elements per stream.  Inputs are sign-extended (A_SIGNED
// / B_SIGNED = 1) or zero-extended to OUT_W bits and added there; the caller
// makes OUT_W wide enough for the exact sum (hw_bnn's SetExactStreamDatatypes
// annotates the narrowest type), so the result is exact.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  One beat is taken from both inputs in the same
// cycle, when both are valid and the output register is free; an input's
// tready depends combinationally on the other input's tvalid and on the
// output's handshake.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.
//
// Packing (FINN convention): element p of a beat at bits [p*W +: W], element 0
// in the LSBs, two's complement for signed values.
//
// Timing: one beat per cycle; latency 1 cycle.
//
// Reset: rst_n synchronous, active low; clears the valid bit.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module add_streams #(
    // Elements per beat, >= 1.
    parameter PE = 1,
    // Element width (1 .. 32) and signedness of the first operand stream.
    parameter A_W = 8,
    parameter A_SIGNED = 1,
    // Element width (1 .. 32) and signedness of the second operand stream.
    parameter B_W = 8,
    parameter B_SIGNED = 1,
    // Output element width, > max(A_W, B_W) unless the sum is known to fit,
    // <= 40, and its signedness (documentation only: the bits are the same).
    parameter OUT_W = 9,
    parameter OUT_SIGNED = 1
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire [PE*A_W-1:0]    s0_axis_tdata,
    input  wire                 s0_axis_tvalid,
    output wire                 s0_axis_tready,
    input  wire [PE*B_W-1:0]    s1_axis_tdata,
    input  wire                 s1_axis_tvalid,
    output wire                 s1_axis_tready,
    output wire [PE*OUT_W-1:0]  m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

initial begin
    if (PE < 1 || A_W < 1 || A_W > 32 || B_W < 1 || B_W > 32 || OUT_W < 1 || OUT_W > 40 ||
        OUT_SIGNED < 0 || OUT_SIGNED > 1) begin
        $error("add_streams: illegal parameters (instance %m)");
        $finish;
    end
end

wire en = !m_axis_tvalid || m_axis_tready;
assign s0_axis_tready = en && s1_axis_tvalid;
assign s1_axis_tready = en && s0_axis_tvalid;
wire take = en && s0_axis_tvalid && s1_axis_tvalid;

wire [PE*OUT_W-1:0] sum;
genvar p;
generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
        wire [A_W-1:0] a = s0_axis_tdata[p*A_W +: A_W];
        wire [B_W-1:0] b = s1_axis_tdata[p*B_W +: B_W];
        wire a_fill = (A_SIGNED != 0) && a[A_W-1];
        wire b_fill = (B_SIGNED != 0) && b[B_W-1];
        /* verilator lint_off UNUSEDSIGNAL */  // the upper bits only fill the extension
        wire [OUT_W+A_W-1:0] a_ext = {{OUT_W{a_fill}}, a};
        wire [OUT_W+B_W-1:0] b_ext = {{OUT_W{b_fill}}, b};
        /* verilator lint_on UNUSEDSIGNAL */
        assign sum[p*OUT_W +: OUT_W] = a_ext[OUT_W-1:0] + b_ext[OUT_W-1:0];
    end
endgenerate

reg [PE*OUT_W-1:0] y_q;
reg                y_v;
always @(posedge clk) begin
    if (en) begin
        y_q <= sum;
        y_v <= take;
    end
    if (!rst_n)
        y_v <= 1'b0;
end

assign m_axis_tdata = y_q;
assign m_axis_tvalid = y_v;

endmodule

`resetall
