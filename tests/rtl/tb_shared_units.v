// SPDX-License-Identifier: MIT
// Test bench tops (tests/rtl/test_shared_units.py) that give the shared modules without
// stream ports the ports of the generic harness (hw_bnn/rtl/harness.cpp):
//
//   tb_fold_param_rom  : a one-register stage that outputs every input beat with the ROM
//                        word of its position, {word, beat}; REG_READ = 1 registers the
//                        beat next to the word read on the handshake (as thresholding.v),
//                        REG_READ = 0 registers {asynchronous word, beat} (as channelwise_op.v).
//   tb_credit_fifo     : a free-running pipeline as mvau.v's: a beat enters while
//                        credit_fifo has credit, reserving its output; its ROM word is read
//                        by fold_param_rom with REG_READ = 2; {word, beat} passes STAGES
//                        registers without enable and then the queue of DEPTH outputs.
//   tb_hyper_mac_layer : input beats {thr_word, w_word, x, first, last} (last in the LSB);
//                        the beats of a pass accumulate, and one cycle after the beat with
//                        `last` the levels are output (thr_word of that beat), one beat per
//                        pass.  The input waits while the levels of a pass are pending.
//   tb_adder_tree      : every input beat is a vector of N terms; its sum leaves STAGES
//                        cycles later (the tree runs free, so the output is always ready).

`resetall
`timescale 1ns / 1ps
`default_nettype none

// the two bench modules share this file (one file per test, like the other benches)
/* verilator lint_off DECLFILENAME */

module tb_credit_fifo #(
    parameter W = 8,
    parameter ROM_DEPTH = 3,
    parameter FILE = "file.mem",
    // input beat width
    parameter DW = 8,
    // free-running registers between the ROM read and the queue, >= 1
    parameter STAGES = 3,
    // outputs the queue reserves
    parameter DEPTH = 5
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [DW-1:0]    s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [W+DW-1:0]  m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

wire credit;
wire take = credit && s_axis_tvalid;
assign s_axis_tready = credit;

wire [W-1:0] word;
fold_param_rom #(.WIDTH(W), .DEPTH(ROM_DEPTH), .FILE(FILE), .REG_READ(2)) u_rom (
    .clk(clk), .rst_n(rst_n), .next(take), .word(word)
);

// stage 1: the beat beside its word; stages 2 .. STAGES: plain delays
reg  [DW-1:0]         x_q;
reg                   v_q;
reg  [STAGES*(W+DW)-1:0] d_data;
reg  [STAGES-1:0]     d_v;
always @(posedge clk) begin
    x_q <= s_axis_tdata;
    v_q <= take;
    if (!rst_n)
        v_q <= 1'b0;
end
always @* begin
    d_data[0 +: W+DW] = {word, x_q};
    d_v[0] = v_q;
end
genvar gs;
generate
    for (gs = 1; gs < STAGES; gs = gs + 1) begin : g_stage
        reg [W+DW-1:0] q;
        reg            qv;
        always @(posedge clk) begin
            q <= d_data[(gs-1)*(W+DW) +: W+DW];
            qv <= d_v[gs-1];
            if (!rst_n)
                qv <= 1'b0;
        end
        always @* begin
            d_data[gs*(W+DW) +: W+DW] = q;
            d_v[gs] = qv;
        end
    end
endgenerate

credit_fifo #(.WIDTH(W+DW), .DEPTH(DEPTH)) u_queue (
    .clk(clk), .rst_n(rst_n), .reserve(take), .credit(credit),
    .s_axis_tdata(d_data[(STAGES-1)*(W+DW) +: W+DW]), .s_axis_tvalid(d_v[STAGES-1]),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
);

endmodule

module tb_fold_param_rom #(
    parameter W = 8,
    parameter DEPTH = 3,
    parameter REG_READ = 1,
    parameter FILE = "file.mem",
    // input beat width
    parameter DW = 8
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire [DW-1:0]    s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [W+DW-1:0]  m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

wire en = !m_axis_tvalid || m_axis_tready;
wire take = en && s_axis_tvalid;
assign s_axis_tready = en;

wire [W-1:0] word;
fold_param_rom #(.WIDTH(W), .DEPTH(DEPTH), .FILE(FILE), .REG_READ(REG_READ)) u_rom (
    .clk(clk), .rst_n(rst_n), .next(take), .word(word)
);

reg v_q;
always @(posedge clk) begin
    if (en)
        v_q <= s_axis_tvalid;
    if (!rst_n)
        v_q <= 1'b0;
end
assign m_axis_tvalid = v_q;

generate
    if (REG_READ != 0) begin : g_reg
        reg [DW-1:0] x_q;
        always @(posedge clk) begin
            if (take)
                x_q <= s_axis_tdata;
        end
        assign m_axis_tdata = {word, x_q};
    end else begin : g_async
        reg [W+DW-1:0] y_q;
        always @(posedge clk) begin
            if (take)
                y_q <= {word, s_axis_tdata};
        end
        assign m_axis_tdata = y_q;
    end
endgenerate

endmodule


module tb_hyper_mac_layer #(
    parameter MACS = 2,
    parameter X_W = 3,
    parameter X_SIGNED = 1,
    parameter WT_W = 4,
    parameter ACC_W = 10,
    parameter N_THR = 3,
    parameter LEVEL_W = 2
) (
    input  wire                     clk,
    input  wire                     rst_n,
    input  wire [MACS*N_THR*ACC_W+MACS*WT_W+X_W+1:0] s_axis_tdata,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    output wire [MACS*LEVEL_W-1:0]  m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);

localparam TW = MACS * N_THR * ACC_W;

wire                 s_last = s_axis_tdata[0];
wire                 s_first = s_axis_tdata[1];
wire [X_W-1:0]       s_x = s_axis_tdata[2 +: X_W];
wire [MACS*WT_W-1:0] s_w = s_axis_tdata[2 + X_W +: MACS*WT_W];
wire [TW-1:0]        s_thr = s_axis_tdata[2 + X_W + MACS*WT_W +: TW];

reg                     pend;           // a pass ended: its levels wait for the output
reg  [TW-1:0]           thr_q;
reg  [MACS*LEVEL_W-1:0] out_q;
reg                     out_v;
wire en = !out_v || m_axis_tready;
wire take = s_axis_tvalid && !pend;
assign s_axis_tready = !pend;

wire [MACS*LEVEL_W-1:0] level;
hyper_mac_layer #(
    .MACS(MACS), .X_W(X_W), .X_SIGNED(X_SIGNED), .WT_W(WT_W), .ACC_W(ACC_W), .N_THR(N_THR),
    .LEVEL_W(LEVEL_W)
) u_layer (
    .clk(clk), .en(take), .first(s_first), .x(s_x), .w_word(s_w), .thr_word(thr_q), .level(level)
);

always @(posedge clk) begin
    if (take && s_last) begin
        pend <= 1'b1;
        thr_q <= s_thr;
    end
    if (pend && en) begin
        out_q <= level;
        out_v <= 1'b1;
        pend <= 1'b0;
    end else if (en) begin
        out_v <= 1'b0;
    end
    if (!rst_n) begin
        pend <= 1'b0;
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

module tb_adder_tree #(
    parameter N = 8,
    parameter TERM_W = 1,
    parameter SIGNED = 0,
    parameter REG_EVERY = 3,
    parameter LEVEL_OFFSET = 0,
    // the tree's registered levels (the test computes them from adder_tree.v's rule)
    parameter STAGES = 1
) (
    input  wire                         clk,
    input  wire                         rst_n,
    input  wire [N*TERM_W-1:0]          s_axis_tdata,
    input  wire                         s_axis_tvalid,
    output wire                         s_axis_tready,
    output wire [TERM_W+$clog2(N)-1:0]  m_axis_tdata,
    output wire                         m_axis_tvalid,
    input  wire                         m_axis_tready
);

reg  [STAGES-1:0] valid_q;
wire [STAGES:0]   valid_next = {valid_q, s_axis_tvalid};
assign s_axis_tready = 1'b1;
assign m_axis_tvalid = valid_q[STAGES-1];

adder_tree #(
    .N(N), .TERM_W(TERM_W), .SIGNED(SIGNED), .REG_EVERY(REG_EVERY), .LEVEL_OFFSET(LEVEL_OFFSET)
) u_tree (
    .clk(clk), .terms(s_axis_tdata), .sum(m_axis_tdata)
);

always @(posedge clk) begin
    valid_q <= valid_next[STAGES-1:0];
    if (!rst_n) valid_q <= {STAGES{1'b0}};
end

wire unused = &{1'b0, m_axis_tready, valid_next[STAGES]};

endmodule

`resetall
