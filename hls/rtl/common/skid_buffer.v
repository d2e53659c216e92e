// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// skid_buffer -- output register plus one skid (holding) register at the end
// of a pipeline that has a single global enable.
//
// The pipeline in front advances whenever s_axis_tready is high.  A beat it
// delivers (s_axis_tvalid while s_axis_tready) goes to the output register if
// that is free or hands its beat over in the same cycle, else to the skid
// register; while the skid register is occupied s_axis_tready is low, and the
// output register takes the skid beat as soon as it is free.  s_axis_tready is
// a register output (!skid occupied), so m_axis_tready reaches only the two
// registers of this module: no combinational ready path runs through the
// pipeline it drives, nor to that pipeline's own input tready.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready never depends
// combinationally on any input.  The upstream may change s_axis_tdata and drop
// s_axis_tvalid while s_axis_tready is low (a pipeline holding its registers
// does not, but nothing here relies on it).
//
// Timing: latency 1 cycle (s_axis beat to m_axis beat when the output is
// free); one beat per cycle while m_axis_tready is high.  When the output
// stalls, the beat delivered in that cycle fills the skid register and the
// upstream waits; the output register takes the skid beat in the first cycle
// it is free, and s_axis_tready is high again in the cycle after.
//
// Reset: rst_n synchronous, active low; clears both valid bits (the data
// registers keep their contents).
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module skid_buffer #(
    // Beat width in bits, >= 1.
    parameter WIDTH = 8
) (
    // Clock and reset
    input  wire             clk,            // rising edge
    input  wire             rst_n,          // synchronous, active low

    // AXI-Stream input (the pipeline's last stage; tready is its enable)
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,

    // AXI-Stream output
    output wire [WIDTH-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

initial begin
    if (WIDTH < 1) begin
        $error("skid_buffer: WIDTH must be >= 1 (instance %m)");
        $finish;
    end
end

reg  [WIDTH-1:0] out_q;
reg              out_v;
reg  [WIDTH-1:0] skid_q;
reg              skid_v;

assign s_axis_tready = !skid_v;

always @(posedge clk) begin
    if (!out_v || m_axis_tready) begin
        // the output register is free: it takes the skid beat first, else
        // whatever the upstream delivers now (s_axis_tready is high then)
        if (skid_v) begin
            out_q <= skid_q;
            out_v <= 1'b1;
            skid_v <= 1'b0;
        end else begin
            out_q <= s_axis_tdata;
            out_v <= s_axis_tvalid;
        end
    end else if (s_axis_tready && s_axis_tvalid) begin
        skid_q <= s_axis_tdata;
        skid_v <= 1'b1;
    end
    if (!rst_n) begin
        out_v <= 1'b0;
        skid_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
