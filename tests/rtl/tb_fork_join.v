// SPDX-License-Identifier: MIT
// Test bench tops (tests/rtl/test_fork_join.py) for the residual fork and join,
// with the ports of the generic harness (hw_bnn/rtl/harness.cpp):
//
//   tb_fork_join: duplicate_streams forks the input x into
//       branch 0: stream_fifo (DEPTH D0)                       -> add_streams s0 (A)
//       branch 1: tb_gate_stage (LFSR-gated, optional transform)
//                 -> stream_fifo (DEPTH D1)                    -> add_streams s1 (B)
//     and add_streams joins them: y = x + x (MODE 0) or y = x + (x >>> 1)
//     (MODE 1, arithmetic shift of every signed element: floor(x / 2)).
//   tb_add_split: one input beat {B, A} (A = PE elements of A_W bits in the LSBs,
//     B = PE elements of B_W bits above them) is forked by duplicate_streams;
//     each half goes through its own LFSR-gated stage (different seeds) and a
//     stream_fifo, so the two operands reach add_streams at different times.
//
// tb_gate_stage is a one-beat register stage (valid/ready, full throughput when
// not gated) that, driven by a 16-bit LFSR, withholds its input ready and delays
// the first showing of its output valid for some cycles.  Once valid is shown it
// stays up until the beat is taken (AXI-Stream rule).  GATE = 0 never gates;
// GATE = k (1 .. 8) closes the input side when the k low LFSR bits are all 0 and
// the output side when the k bits from bit 8 are all 0 (probability 2^-k each).

`resetall
`timescale 1ns / 1ps
`default_nettype none

// the three bench modules share this file (one file per test, like the other benches)
/* verilator lint_off DECLFILENAME */

module tb_gate_stage #(
    // Element width and elements per beat (beat width PE*ELEM_W).
    parameter ELEM_W = 8,
    parameter PE = 1,
    // 0: pass the beat; 1: every element arithmetically shifted right by 1.
    parameter XFORM = 0,
    // LFSR seed (the low 16 bits, 0 is replaced by 1) and gating (see above).
    parameter SEED = 1,
    parameter GATE = 2
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

localparam [31:0] SEED32 = SEED;
localparam [15:0] SEED16 = (SEED32[15:0] == 16'd0) ? 16'd1 : SEED32[15:0];
localparam [31:0] MASK32 = (GATE > 0) ? ((32'd1 << GATE) - 32'd1) : 32'd0;
localparam [7:0]  MASK = MASK32[7:0];

initial begin
    if (GATE < 0 || GATE > 8 || (XFORM != 0 && ELEM_W < 2)) begin
        $error("tb_gate_stage: need 0 <= GATE <= 8 and ELEM_W >= 2 for XFORM (instance %m)");
        $finish;
    end
end

// Fibonacci LFSR x^16 + x^14 + x^13 + x^11 + 1, steps every cycle
reg [15:0] lfsr;
always @(posedge clk) begin
    lfsr <= {lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]};
    if (!rst_n)
        lfsr <= SEED16;
end
wire in_open = (GATE == 0) || ((lfsr[7:0] & MASK) != 8'd0);
wire out_open = (GATE == 0) || ((lfsr[15:8] & MASK) != 8'd0);

wire [PE*ELEM_W-1:0] f;
genvar p;
generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
        if (XFORM != 0) begin : g_shift
            assign f[p*ELEM_W +: ELEM_W] = {s_axis_tdata[p*ELEM_W + ELEM_W - 1],
                                            s_axis_tdata[p*ELEM_W + 1 +: ELEM_W - 1]};
        end else begin : g_pass
            assign f[p*ELEM_W +: ELEM_W] = s_axis_tdata[p*ELEM_W +: ELEM_W];
        end
    end
endgenerate

reg [PE*ELEM_W-1:0] d_q;
reg                 full;                       // d_q holds a beat
reg                 shown;                      // m_axis_tvalid was up and not taken

assign m_axis_tvalid = full && (shown || out_open);
wire pop = m_axis_tvalid && m_axis_tready;
assign s_axis_tready = in_open && (!full || pop);
wire push = s_axis_tvalid && s_axis_tready;

always @(posedge clk) begin
    if (push)
        d_q <= f;
    if (push)
        full <= 1'b1;
    else if (pop)
        full <= 1'b0;
    shown <= m_axis_tvalid && !m_axis_tready;
    if (!rst_n) begin
        full <= 1'b0;
        shown <= 1'b0;
    end
end

assign m_axis_tdata = d_q;

endmodule

module tb_fork_join #(
    // Elements per beat and element width of x (signed); y has W + 1 bits.
    parameter PE = 2,
    parameter W = 8,
    // FIFO depths of branch 0 and branch 1.
    parameter D0 = 8,
    parameter D1 = 8,
    // Gate of branch 1 (tb_gate_stage SEED / GATE).
    parameter SEED = 1,
    parameter GATE = 2,
    // 0: y = x + x; 1: y = x + floor(x / 2).
    parameter MODE = 0
) (
    input  wire                  clk,
    input  wire                  rst_n,
    input  wire [PE*W-1:0]       s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    output wire [PE*(W+1)-1:0]   m_axis_tdata,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready
);

wire [PE*W-1:0] f0_tdata, f1_tdata, g_tdata, a_tdata, b_tdata;
wire            f0_tvalid, f1_tvalid, g_tvalid, a_tvalid, b_tvalid;
wire            f0_tready, f1_tready, g_tready, a_tready, b_tready;
/* verilator lint_off UNUSEDSIGNAL */  // FIFO occupancies: not needed by the bench
wire [$clog2(D0+1)-1:0] count0;
wire [$clog2(D1+1)-1:0] count1;
/* verilator lint_on UNUSEDSIGNAL */

duplicate_streams #(.WIDTH(PE*W)) u_fork (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m0_axis_tdata(f0_tdata), .m0_axis_tvalid(f0_tvalid), .m0_axis_tready(f0_tready),
    .m1_axis_tdata(f1_tdata), .m1_axis_tvalid(f1_tvalid), .m1_axis_tready(f1_tready)
);

stream_fifo #(.WIDTH(PE*W), .DEPTH(D0)) u_fifo0 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(f0_tdata), .s_axis_tvalid(f0_tvalid), .s_axis_tready(f0_tready),
    .m_axis_tdata(a_tdata), .m_axis_tvalid(a_tvalid), .m_axis_tready(a_tready),
    .count(count0)
);

tb_gate_stage #(.ELEM_W(W), .PE(PE), .XFORM(MODE), .SEED(SEED), .GATE(GATE)) u_gate (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(f1_tdata), .s_axis_tvalid(f1_tvalid), .s_axis_tready(f1_tready),
    .m_axis_tdata(g_tdata), .m_axis_tvalid(g_tvalid), .m_axis_tready(g_tready)
);

stream_fifo #(.WIDTH(PE*W), .DEPTH(D1)) u_fifo1 (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(g_tdata), .s_axis_tvalid(g_tvalid), .s_axis_tready(g_tready),
    .m_axis_tdata(b_tdata), .m_axis_tvalid(b_tvalid), .m_axis_tready(b_tready),
    .count(count1)
);

add_streams #(
    .PE(PE), .A_W(W), .A_SIGNED(1), .B_W(W), .B_SIGNED(1), .OUT_W(W + 1), .OUT_SIGNED(1)
) u_join (
    .clk(clk), .rst_n(rst_n),
    .s0_axis_tdata(a_tdata), .s0_axis_tvalid(a_tvalid), .s0_axis_tready(a_tready),
    .s1_axis_tdata(b_tdata), .s1_axis_tvalid(b_tvalid), .s1_axis_tready(b_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
);

endmodule

module tb_add_split #(
    // add_streams parameters.
    parameter PE = 2,
    parameter A_W = 4,
    parameter A_SIGNED = 0,
    parameter B_W = 8,
    parameter B_SIGNED = 1,
    parameter OUT_W = 9,
    parameter OUT_SIGNED = 1,
    // Seed and gate of both operand stages (operand B uses SEED + 0x1234),
    // depth of the FIFO behind each.
    parameter SEED = 1,
    parameter GATE = 2,
    parameter D = 4
) (
    input  wire                     clk,
    input  wire                     rst_n,
    input  wire [PE*(A_W+B_W)-1:0]  s_axis_tdata,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    output wire [PE*OUT_W-1:0]      m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);

localparam AW = PE * A_W;
localparam BW = PE * B_W;

wire [AW+BW-1:0] f0_tdata, f1_tdata;
wire [AW-1:0]    ga_tdata, a_tdata;
wire [BW-1:0]    gb_tdata, b_tdata;
wire             f0_tvalid, f1_tvalid, ga_tvalid, gb_tvalid, a_tvalid, b_tvalid;
wire             f0_tready, f1_tready, ga_tready, gb_tready, a_tready, b_tready;
/* verilator lint_off UNUSEDSIGNAL */  // each fork output feeds only its operand's half; occupancies unused
wire [AW+BW-1:0] f0_all = f0_tdata, f1_all = f1_tdata;
wire [$clog2(D+1)-1:0] count_a, count_b;
/* verilator lint_on UNUSEDSIGNAL */

duplicate_streams #(.WIDTH(AW + BW)) u_split (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m0_axis_tdata(f0_tdata), .m0_axis_tvalid(f0_tvalid), .m0_axis_tready(f0_tready),
    .m1_axis_tdata(f1_tdata), .m1_axis_tvalid(f1_tvalid), .m1_axis_tready(f1_tready)
);

tb_gate_stage #(.ELEM_W(AW), .PE(1), .XFORM(0), .SEED(SEED), .GATE(GATE)) u_gate_a (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(f0_all[AW-1:0]), .s_axis_tvalid(f0_tvalid), .s_axis_tready(f0_tready),
    .m_axis_tdata(ga_tdata), .m_axis_tvalid(ga_tvalid), .m_axis_tready(ga_tready)
);

tb_gate_stage #(.ELEM_W(BW), .PE(1), .XFORM(0), .SEED(SEED + 32'h1234), .GATE(GATE)) u_gate_b (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(f1_all[AW +: BW]), .s_axis_tvalid(f1_tvalid), .s_axis_tready(f1_tready),
    .m_axis_tdata(gb_tdata), .m_axis_tvalid(gb_tvalid), .m_axis_tready(gb_tready)
);

stream_fifo #(.WIDTH(AW), .DEPTH(D)) u_fifo_a (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(ga_tdata), .s_axis_tvalid(ga_tvalid), .s_axis_tready(ga_tready),
    .m_axis_tdata(a_tdata), .m_axis_tvalid(a_tvalid), .m_axis_tready(a_tready),
    .count(count_a)
);

stream_fifo #(.WIDTH(BW), .DEPTH(D)) u_fifo_b (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(gb_tdata), .s_axis_tvalid(gb_tvalid), .s_axis_tready(gb_tready),
    .m_axis_tdata(b_tdata), .m_axis_tvalid(b_tvalid), .m_axis_tready(b_tready),
    .count(count_b)
);

add_streams #(
    .PE(PE), .A_W(A_W), .A_SIGNED(A_SIGNED), .B_W(B_W), .B_SIGNED(B_SIGNED),
    .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED)
) u_add (
    .clk(clk), .rst_n(rst_n),
    .s0_axis_tdata(a_tdata), .s0_axis_tvalid(a_tvalid), .s0_axis_tready(a_tready),
    .s1_axis_tdata(b_tdata), .s1_axis_tvalid(b_tvalid), .s1_axis_tready(b_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
);

endmodule

/* verilator lint_on DECLFILENAME */

`resetall
