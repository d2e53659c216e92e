// SPDX-License-Identifier: MIT
// Test top: sliding_window (DEPTHWISE = 1, STRIDE = K) feeding pool_max, i.e.
// FINN's MaxPool lowering (ConvolutionInputGenerator dws + Pool).
`resetall
`timescale 1ns / 1ps
`default_nettype none

module tb_swg_pool #(
    parameter IFM_DIM = 6,
    parameter C = 4,
    parameter PE = 2,
    parameter K = 2,
    parameter ELEM_W = 1
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire [PE*ELEM_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    output wire [PE*ELEM_W-1:0] m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

wire [PE*ELEM_W-1:0] w_tdata;
wire                 w_tvalid;
wire                 w_tready;

sliding_window #(
    .IFM_DIM(IFM_DIM), .C(C), .SIMD(PE), .K(K), .STRIDE(K), .ELEM_W(ELEM_W), .DEPTHWISE(1)
) u_swg (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(w_tdata), .m_axis_tvalid(w_tvalid), .m_axis_tready(w_tready)
);

pool_max #(
    .K(K), .PE(PE), .ELEM_W(ELEM_W), .SIGNED(0)
) u_pool (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(w_tdata), .s_axis_tvalid(w_tvalid), .s_axis_tready(w_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
);

endmodule

`resetall
