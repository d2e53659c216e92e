// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// width_converter -- stream width conversion between neighbouring foldings
// (FINN node `StreamingDataWidthConverter`, case where one width divides
// the other).
//
// The element sequence is unchanged; only the grouping into beats changes.
// With FINN's packing (element 0 of a beat in the LSBs) that means:
//   IN_W > OUT_W (R = IN_W/OUT_W): an input beat is sent as R output beats,
//                least significant OUT_W bits first;
//   IN_W < OUT_W (R = OUT_W/IN_W): R input beats form one output beat, the
//                first input beat in the least significant IN_W bits;
//   IN_W = OUT_W: a register stage.
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tready (only when the register would overflow).
//
// Timing: full throughput on the wider side's beat rate (one beat per cycle on
// the narrower side), latency 1 cycle after the beat that completes a word.
//
// Reset: rst_n synchronous, active low; clears counters and valid bits.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module width_converter #(
    // Input beat width in bits, >= 1.
    parameter IN_W = 8,
    // Output beat width in bits, >= 1; IN_W % OUT_W == 0 or OUT_W % IN_W == 0.
    parameter OUT_W = 2
) (
    // Clock and reset
    input  wire             clk,                // rising edge
    input  wire             rst_n,              // synchronous, active low

    // AXI-Stream input
    input  wire [IN_W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,

    // AXI-Stream output
    output wire [OUT_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

localparam R = (IN_W > OUT_W) ? IN_W / OUT_W : OUT_W / IN_W;
localparam R_W = (R > 1) ? $clog2(R) : 1;
localparam [31:0] R_LAST32 = R - 1;
localparam [R_W-1:0] R_LAST = R_LAST32[R_W-1:0];

initial begin
    if (IN_W < 1 || OUT_W < 1 || (IN_W % OUT_W != 0 && OUT_W % IN_W != 0)) begin
        $error("width_converter: one of IN_W, OUT_W must divide the other (instance %m)");
        $finish;
    end
end

generate
    if (IN_W > OUT_W) begin : g_down
        // one input beat -> R output beats, LSBs first
        reg  [IN_W-1:0] buf_q;
        reg  [R_W-1:0]  cnt;
        reg             buf_v;
        wire last = (cnt == R_LAST);
        assign s_axis_tready = !buf_v || (m_axis_tready && last);
        always @(posedge clk) begin
            if (buf_v && m_axis_tready) begin
                buf_q <= buf_q >> OUT_W;
                cnt <= cnt + 1'b1;
                if (last)
                    buf_v <= 1'b0;
            end
            if (s_axis_tvalid && s_axis_tready) begin
                buf_q <= s_axis_tdata;
                cnt <= {R_W{1'b0}};
                buf_v <= 1'b1;
            end
            if (!rst_n) begin
                cnt <= {R_W{1'b0}};
                buf_v <= 1'b0;
            end
        end
        assign m_axis_tdata = buf_q[OUT_W-1:0];
        assign m_axis_tvalid = buf_v;
    end else if (IN_W < OUT_W) begin : g_up
        // R input beats -> one output beat, first beat in the LSBs
        reg  [OUT_W-IN_W-1:0] sr;               // the first R-1 beats
        reg  [R_W-1:0]        cnt;
        reg  [OUT_W-1:0]      out_q;
        reg                   out_v;
        wire last = (cnt == R_LAST);
        wire [OUT_W-1:0] word = {s_axis_tdata, sr};
        assign s_axis_tready = !last || !out_v || m_axis_tready;
        always @(posedge clk) begin
            if (out_v && m_axis_tready)
                out_v <= 1'b0;
            if (s_axis_tvalid && s_axis_tready) begin
                sr <= word[OUT_W-1:IN_W];
                cnt <= last ? {R_W{1'b0}} : cnt + 1'b1;
                if (last) begin
                    out_q <= word;
                    out_v <= 1'b1;
                end
            end
            if (!rst_n) begin
                cnt <= {R_W{1'b0}};
                out_v <= 1'b0;
            end
        end
        assign m_axis_tdata = out_q;
        assign m_axis_tvalid = out_v;
    end else begin : g_same
        reg [OUT_W-1:0] out_q;
        reg             out_v;
        assign s_axis_tready = !out_v || m_axis_tready;
        always @(posedge clk) begin
            if (s_axis_tready) begin
                out_q <= s_axis_tdata;
                out_v <= s_axis_tvalid;
            end
            if (!rst_n)
                out_v <= 1'b0;
        end
        assign m_axis_tdata = out_q;
        assign m_axis_tvalid = out_v;
    end
endgenerate

endmodule

`resetall
