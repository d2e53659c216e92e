// SPDX-License-Identifier: MIT
// Test bench tops (tests/rtl/test_properties.py) that chain three stream units, with the
// ports of the generic harness (hw_bnn/rtl/harness.cpp), so that one Verilator build
// checks three parameterisations at once and the inner units see the back-pressure of
// their neighbours (not only the harness's random gaps and stalls):
//
//   tb_fifo_chain : stream_fifo (DEPTH D0) -> stream_fifo (D1) -> stream_fifo (D2),
//                   all WIDTH bits wide.
//   tb_width_chain: width_converter W0 -> W1 -> W2 -> W3 (each width must divide its
//                   neighbour's or be divided by it; any of them may be equal).

`resetall
`timescale 1ns / 1ps
`default_nettype none

// the two bench modules share this file (one file per test, like the other benches)
/* verilator lint_off DECLFILENAME */

module tb_fifo_chain #(
    // Beat width in bits.
    parameter WIDTH = 8,
    // Depths of the three FIFOs, in order from the input.
    parameter D0 = 4,
    parameter D1 = 4,
    parameter D2 = 4
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [WIDTH-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

wire [WIDTH-1:0] a_tdata, b_tdata;
wire             a_tvalid, b_tvalid;
wire             a_tready, b_tready;
/* verilator lint_off UNUSEDSIGNAL */  // FIFO occupancies: not needed by the bench
wire [$clog2(D0+1)-1:0] count0;
wire [$clog2(D1+1)-1:0] count1;
wire [$clog2(D2+1)-1:0] count2;
/* verilator lint_on UNUSEDSIGNAL */

stream_fifo #(.WIDTH(WIDTH), .DEPTH(D0)) u_f0 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(a_tdata), .m_axis_tvalid(a_tvalid), .m_axis_tready(a_tready),
    .count(count0)
);
stream_fifo #(.WIDTH(WIDTH), .DEPTH(D1)) u_f1 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(a_tdata), .s_axis_tvalid(a_tvalid), .s_axis_tready(a_tready),
    .m_axis_tdata(b_tdata), .m_axis_tvalid(b_tvalid), .m_axis_tready(b_tready),
    .count(count1)
);
stream_fifo #(.WIDTH(WIDTH), .DEPTH(D2)) u_f2 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(b_tdata), .s_axis_tvalid(b_tvalid), .s_axis_tready(b_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .count(count2)
);

endmodule

module tb_width_chain #(
    // Beat widths: input W0, between the converters W1 and W2, output W3.
    parameter W0 = 8,
    parameter W1 = 2,
    parameter W2 = 6,
    parameter W3 = 3
) (
    input  wire          clk,
    input  wire          rst_n,
    input  wire [W0-1:0] s_axis_tdata,
    input  wire          s_axis_tvalid,
    output wire          s_axis_tready,
    output wire [W3-1:0] m_axis_tdata,
    output wire          m_axis_tvalid,
    input  wire          m_axis_tready
);

wire [W1-1:0] a_tdata;
wire [W2-1:0] b_tdata;
wire          a_tvalid, b_tvalid;
wire          a_tready, b_tready;

width_converter #(.IN_W(W0), .OUT_W(W1)) u_c0 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(a_tdata), .m_axis_tvalid(a_tvalid), .m_axis_tready(a_tready)
);
width_converter #(.IN_W(W1), .OUT_W(W2)) u_c1 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(a_tdata), .s_axis_tvalid(a_tvalid), .s_axis_tready(a_tready),
    .m_axis_tdata(b_tdata), .m_axis_tvalid(b_tvalid), .m_axis_tready(b_tready)
);
width_converter #(.IN_W(W2), .OUT_W(W3)) u_c2 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(b_tdata), .s_axis_tvalid(b_tvalid), .s_axis_tready(b_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
);

endmodule

`resetall
