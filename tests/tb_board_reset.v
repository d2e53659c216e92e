// SPDX-License-Identifier: MIT
// Test bench top (tests/test_board_reset.py) around the generated board wrapper hw_bnn_fpga
// (hw_bnn.board.boards.fpga_top_verilog), driven by tests/tb_board_reset.cpp.
//
// It takes the board's levels off the pins so that the harness works at fixed ones: `pressed`
// is 1 while the reset button is held (the board's btn_rst at its active level), `error` and
// `in_frame` are 1 while their LED is lit (led_error / led_frame at the board's LED level).
// `rst_n` is the wrapper's internal reset of hw_bnn_board, read through a hierarchical
// reference (the generated wrapper has no such port).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module tb_board_reset #(
    // 1: the board's button pulls btn_rst low when pressed (Board.button_active_low).
    parameter BUTTON_ACTIVE_LOW = 1,
    // 1: the board's LEDs light on a low pin (Board.leds_active_low).
    parameter LEDS_ACTIVE_LOW = 1
) (
    input  wire clk,
    input  wire pressed,
    input  wire uart_rx,
    output wire uart_tx,
    output wire rst_n,
    output wire error,
    output wire in_frame
);

wire led_error, led_frame;

hw_bnn_fpga u_fpga (
    .clk(clk), .btn_rst((BUTTON_ACTIVE_LOW != 0) ? !pressed : pressed), .uart_rx(uart_rx),
    .uart_tx(uart_tx), .led_error(led_error), .led_frame(led_frame)
);

assign rst_n = u_fpga.rst_n;
assign error = (LEDS_ACTIVE_LOW != 0) ? !led_error : led_error;
assign in_frame = (LEDS_ACTIVE_LOW != 0) ? !led_frame : led_frame;

endmodule

`resetall
