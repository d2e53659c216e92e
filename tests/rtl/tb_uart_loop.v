// SPDX-License-Identifier: MIT
// Test bench top (tests/rtl/test_uart.py): uart_tx -> serial line -> uart_rx, as a
// byte stream module with the ports of the generic harness (hw_bnn/rtl/harness.cpp).
// `error` goes high (sticky) on a framing error or an overrun in the receiver.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module tb_uart_loop #(
    // Clock cycles per bit of both ends.
    parameter CLKS_PER_BIT = 4
) (
    input  wire       clk,
    input  wire       rst_n,
    input  wire [7:0] s_axis_tdata,
    input  wire       s_axis_tvalid,
    output wire       s_axis_tready,
    output wire [7:0] m_axis_tdata,
    output wire       m_axis_tvalid,
    input  wire       m_axis_tready,
    output wire       error
);

wire line;
wire frame_error, overrun;
reg  error_q;

/* verilator lint_off PINCONNECTEMPTY */
uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .tx(line), .busy()
);
/* verilator lint_on PINCONNECTEMPTY */

uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
    .clk(clk), .rst_n(rst_n), .rx(line),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .frame_error(frame_error), .overrun(overrun)
);

always @(posedge clk) begin
    if (!rst_n) error_q <= 1'b0;
    else if (frame_error || overrun) error_q <= 1'b1;
end
assign error = error_q;

endmodule

`resetall
