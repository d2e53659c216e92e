// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// uart_rx -- 8N1 UART receiver with a valid/ready byte stream output.
//
// Line format (8N1): idle high; a start bit (low), 8 data bits LSB first, one
// stop bit (high); every bit lasts CLKS_PER_BIT clock cycles (clk / baud).
//
// The rx pin is asynchronous: it passes a 2-flop synchroniser first.  A falling
// edge starts a byte; the start bit is checked again in its middle (a shorter
// low pulse is a glitch and is ignored), then every bit is sampled in its
// middle, CLKS_PER_BIT cycles apart.  The byte is delivered in the middle of the
// stop bit, so the receiver is looking for the next start bit half a bit early
// and tolerates a transmitter up to about +-4% off the nominal rate.
//
// Output stream: m_axis_tdata holds the byte while m_axis_tvalid && !tready.
// A UART cannot be stalled: if the previous byte is still not taken when the
// next one is complete, the new byte is dropped and `overrun` pulses for one
// cycle.  A stop bit that reads low drops the byte and pulses `frame_error`;
// the receiver then waits for the line to go high (a break) before it looks
// for the next start bit.
//
// Reset: rst_n synchronous, active low.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module uart_rx #(
    // Clock cycles per bit (clock frequency / baud rate), >= 4.
    parameter CLKS_PER_BIT = 217
) (
    // Clock and reset
    input  wire       clk,          // rising edge
    input  wire       rst_n,        // synchronous, active low

    // Serial input (asynchronous to clk)
    input  wire       rx,

    // Byte stream output
    output wire [7:0] m_axis_tdata,
    output wire       m_axis_tvalid,
    input  wire       m_axis_tready,

    // Status (one-cycle pulses)
    output wire       frame_error,  // stop bit low: byte dropped
    output wire       overrun       // byte complete while the previous one was not taken: dropped
);

localparam CW = (CLKS_PER_BIT > 1) ? $clog2(CLKS_PER_BIT) : 1;
localparam [31:0] LAST32 = CLKS_PER_BIT - 1;
localparam [31:0] HALF32 = (CLKS_PER_BIT - 1) / 2;
localparam [CW-1:0] LAST = LAST32[CW-1:0];
localparam [CW-1:0] HALF = HALF32[CW-1:0];

localparam [2:0] S_IDLE = 3'd0, S_START = 3'd1, S_DATA = 3'd2, S_STOP = 3'd3, S_BREAK = 3'd4;

initial begin
    if (CLKS_PER_BIT < 4) begin
        $error("uart_rx: CLKS_PER_BIT must be >= 4 (instance %m)");
        $finish;
    end
end

reg  [1:0]    sync;                 // 2-flop synchroniser, sync[1] is the synchronised line
reg  [2:0]    state;
reg  [CW-1:0] cnt;                  // cycles within the current bit
reg  [2:0]    bit_idx;
reg  [7:0]    shreg;
reg  [7:0]    data_q;
reg           valid_q;
reg           ferr_q;
reg           ovr_q;

wire line = sync[1];

always @(posedge clk) begin
    sync <= {sync[0], rx};
    ferr_q <= 1'b0;
    ovr_q <= 1'b0;
    if (valid_q && m_axis_tready)
        valid_q <= 1'b0;
    case (state)
        S_IDLE: begin
            cnt <= {CW{1'b0}};
            if (!line)
                state <= S_START;
        end
        S_START: begin
            if (cnt == HALF) begin
                cnt <= {CW{1'b0}};
                bit_idx <= 3'd0;
                state <= line ? S_IDLE : S_DATA;  // high again in mid start bit: a glitch
            end else begin
                cnt <= cnt + 1'b1;
            end
        end
        S_DATA: begin
            if (cnt == LAST) begin
                cnt <= {CW{1'b0}};
                shreg <= {line, shreg[7:1]};      // LSB first
                bit_idx <= bit_idx + 1'b1;
                if (bit_idx == 3'd7)
                    state <= S_STOP;
            end else begin
                cnt <= cnt + 1'b1;
            end
        end
        S_STOP: begin
            if (cnt == LAST) begin
                cnt <= {CW{1'b0}};
                if (!line) begin
                    ferr_q <= 1'b1;
                    state <= S_BREAK;
                end else begin
                    state <= S_IDLE;
                    if (valid_q && !m_axis_tready) begin
                        ovr_q <= 1'b1;
                    end else begin
                        data_q <= shreg;
                        valid_q <= 1'b1;
                    end
                end
            end else begin
                cnt <= cnt + 1'b1;
            end
        end
        default: begin                         // S_BREAK: wait for the idle (high) line
            cnt <= {CW{1'b0}};
            if (line)
                state <= S_IDLE;
        end
    endcase
    if (!rst_n) begin
        sync <= 2'b11;
        state <= S_IDLE;
        cnt <= {CW{1'b0}};
        bit_idx <= 3'd0;
        valid_q <= 1'b0;
        ferr_q <= 1'b0;
        ovr_q <= 1'b0;
    end
end

assign m_axis_tdata = data_q;
assign m_axis_tvalid = valid_q;
assign frame_error = ferr_q;
assign overrun = ovr_q;

endmodule

`resetall
