// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// uart_tx -- 8N1 UART transmitter with a valid/ready byte stream input.
//
// Line format (8N1): idle high; a start bit (low), 8 data bits LSB first, one
// stop bit (high); every bit lasts CLKS_PER_BIT clock cycles (clk / baud).
//
// Input stream: a byte is taken on a rising clk edge where s_axis_tvalid &&
// s_axis_tready.  s_axis_tready is high while the line is idle and in the last
// cycle of a stop bit, so bytes offered back to back go out back to back
// (10 * CLKS_PER_BIT cycles each); s_axis_tready depends on registers only.
// The tx output is a register (no glitches), high in reset and when idle.
//
// Reset: rst_n synchronous, active low.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module uart_tx #(
    // Clock cycles per bit (clock frequency / baud rate), >= 2.
    parameter CLKS_PER_BIT = 217
) (
    // Clock and reset
    input  wire       clk,          // rising edge
    input  wire       rst_n,        // synchronous, active low

    // Byte stream input
    input  wire [7:0] s_axis_tdata,
    input  wire       s_axis_tvalid,
    output wire       s_axis_tready,

    // Serial output
    output wire       tx,

    // Status
    output wire       busy          // a byte is on the line
);

localparam CW = (CLKS_PER_BIT > 1) ? $clog2(CLKS_PER_BIT) : 1;
localparam [31:0] LAST32 = CLKS_PER_BIT - 1;
localparam [CW-1:0] LAST = LAST32[CW-1:0];

initial begin
    if (CLKS_PER_BIT < 2) begin
        $error("uart_tx: CLKS_PER_BIT must be >= 2 (instance %m)");
        $finish;
    end
end

reg           busy_q;
reg           tx_q;
reg  [CW-1:0] cnt;                  // cycles within the current bit
reg  [3:0]    bit_idx;              // 0: start bit, 1..8: data bits, 9: stop bit
reg  [8:0]    shreg;                // bits still to send (stop bit in the MSB)

wire bit_end = (cnt == LAST);
wire ready = !busy_q || (bit_end && bit_idx == 4'd9);
wire load = s_axis_tvalid && ready;

always @(posedge clk) begin
    if (load) begin
        shreg <= {1'b1, s_axis_tdata};
        tx_q <= 1'b0;                              // start bit
        cnt <= {CW{1'b0}};
        bit_idx <= 4'd0;
        busy_q <= 1'b1;
    end else if (busy_q) begin
        if (bit_end) begin
            cnt <= {CW{1'b0}};
            if (bit_idx == 4'd9) begin
                busy_q <= 1'b0;                    // stop bit done, tx stays high
            end else begin
                tx_q <= shreg[0];
                shreg <= {1'b1, shreg[8:1]};
                bit_idx <= bit_idx + 1'b1;
            end
        end else begin
            cnt <= cnt + 1'b1;
        end
    end
    if (!rst_n) begin
        busy_q <= 1'b0;
        tx_q <= 1'b1;
        cnt <= {CW{1'b0}};
        bit_idx <= 4'd0;
    end
end

assign s_axis_tready = ready;
assign tx = tx_q;
assign busy = busy_q;

endmodule

`resetall
