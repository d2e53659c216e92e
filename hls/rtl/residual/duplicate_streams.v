// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// duplicate_streams -- forks one stream into two (FINN node `DuplicateStreams`
// with NumOutputStreams = 2): every input beat leaves once on each output, in
// order.  The head of a residual block: one copy feeds the binary branch, the
// other the shortcut.
//
// The two outputs are independent: each has its own valid bit for the beat
// held, so one output can take it while the other stalls; the next input beat
// is accepted once both have taken the current one.  A fork therefore never
// loses or reorders data; how far one branch can run ahead of the other is
// set by the FIFO on the other branch (hw_bnn/features/residual/fifo_sizing.py).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m*_axis_tvalid never depends on m*_axis_tready;
// m*_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on the outputs' valid/ready.
//
// Timing: one beat per cycle when both outputs are ready; latency 1 cycle.
//
// Reset: rst_n synchronous, active low; clears the valid bits.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module duplicate_streams #(
    // Beat width in bits, >= 1.
    parameter WIDTH = 8
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [WIDTH-1:0] m0_axis_tdata,
    output wire             m0_axis_tvalid,
    input  wire             m0_axis_tready,
    output wire [WIDTH-1:0] m1_axis_tdata,
    output wire             m1_axis_tvalid,
    input  wire             m1_axis_tready
);

initial begin
    if (WIDTH < 1) begin
        $error("duplicate_streams: WIDTH must be >= 1 (instance %m)");
        $finish;
    end
end

reg [WIDTH-1:0] data_q;
reg             valid0, valid1;     // the beat in data_q is still owed to output 0 / 1

// an output is free when it holds nothing or hands its beat over now
wire free0 = !valid0 || m0_axis_tready;
wire free1 = !valid1 || m1_axis_tready;
assign s_axis_tready = free0 && free1;
wire take = s_axis_tvalid && s_axis_tready;

always @(posedge clk) begin
    if (take) begin
        data_q <= s_axis_tdata;
        valid0 <= 1'b1;
        valid1 <= 1'b1;
    end else begin
        if (m0_axis_tready)
            valid0 <= 1'b0;
        if (m1_axis_tready)
            valid1 <= 1'b0;
    end
    if (!rst_n) begin
        valid0 <= 1'b0;
        valid1 <= 1'b0;
    end
end

assign m0_axis_tdata = data_q;
assign m1_axis_tdata = data_q;
assign m0_axis_tvalid = valid0;
assign m1_axis_tvalid = valid1;

endmodule

`resetall
