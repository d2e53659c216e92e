// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// mvau -- folded matrix-vector-activation unit (FINN node `MVAU`).
//
// Computes, for every input vector x (MW elements), y = act(x . W) with W an
// MW x MH matrix of bipolar weights (WEIGHT_W = 1) or of WEIGHT_W-bit signed
// integer weights (WEIGHT_W > 1), folded onto PE parallel output channels and
// SIMD parallel input elements:
//   XNOR = 1 (FINN binaryXnorMode=1): x and W are 1-bit (bit 1 = +1, bit 0 = -1)
//            and the accumulator is the XNOR popcount, i.e. the number of i with
//            x[i] == W[i][c] (0 .. MW), exactly FINN's xnorpopcountmatmul.
//   XNOR = 0 : x is an IN_W-bit integer (signed if IN_SIGNED), W is bipolar
//            stored as bits (1 = +1, 0 = -1); acc = sum_i (W ? x[i] : -x[i]).
//            This is FINN's MVAU with weightDataType=BIPOLAR, binaryXnorMode=0
//            (first layer of a CNV net: UINT8 pixels x bipolar weights).
//            With WEIGHT_W > 1, W holds WEIGHT_W-bit two's complement integers
//            (-2^(WEIGHT_W-1) .. 2^(WEIGHT_W-1) - 1) and acc = sum_i W[i][c] *
//            x[i], exact: FINN's MVAU with weightDataType=INTn (n = WEIGHT_W;
//            other integer weight types, e.g. UINTn or BINARY, as the smallest
//            signed width holding their values), binaryXnorMode=0 (the stem
//            conv, 1x1 down-sampling convs and classifier of a residual
//            network).  The products are registered before the adder tree
//            (one more pipeline stage, see Latency).
//   NO_ACT = 1 (FINN noActivation=1): output element = acc (two's complement,
//            truncated or sign-extended to OUT_W bits).
//   NO_ACT = 0 : output element = ACT_BIAS + #{ n : acc >= T[c][n] }, N_THR
//            thresholds per channel, signed, compared exactly (FINN
//            MultiThreshold semantics; the thresholds of a channel need not be
//            sorted, every one is compared on its own).  For a BIPOLAR output
//            use ACT_BIAS = 0: the emitted bit is 1 for +1 and 0 for -1.
//   Accumulator: ACC_W = TERM_W + clog2(MW + 1) bits, signed (TERM_W = 1 with
//            XNOR = 1, IN_W + 1 with bipolar weights, IN_W + WEIGHT_W with
//            integer weights); it holds every accumulator of any weights of the
//            weight format (hw_bnn.rtl.memfiles.mvau_acc_bounds_int), so it
//            never wraps.  OUT_W (NO_ACT = 1) and the thresholds (NO_ACT = 0)
//            only need the range of the actual weights (mvau_weight_acc_bounds).
//   COUNT = 1 (NO_ACT = 1 and WEIGHT_W = 1 only): one extra output lane per
//            output beat, lane PE, carrying the accumulator of an all-ones
//            weight row (W = +1 / binary 1 for every i) for the current
//            vector: with XNOR = 1 the popcount of x (XNOR(x, 1) = x,
//            0 .. MW), with XNOR = 0 the plain sum of the elements of x
//            (signed if IN_SIGNED).  All NF output beats of a vector carry
//            the same value in lane PE.  It is a (PE+1)-th adder-tree lane
//            with constant weights (AdaBin's activation popcount P^a): one
//            more adder tree, no extra cycles, same latency; the weight memory
//            is unchanged.  OUT_W must hold it as well as the real channels'
//            accumulators: [0, MW] with XNOR = 1,
//            [MW*min(x), MW*max(x)] with XNOR = 0 (within mvau_acc_bounds, but
//            possibly outside a range computed from the actual weights).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  The pipeline runs free (no
// clock enable on its registers): a beat enters only while the output queue
// (credit_fifo.v) has room for the output it will produce, so a stalled
// output never has to stop it.  The credit is a register, so neither
// s_axis_tready nor any pipeline register depends combinationally on
// m_axis_tready.  (A global enable instead drove the clock enable of every
// register from one net: at PE x SIMD = 7168 its routing limited the design
// to 72 MHz on ECP5.)
//
// Packing (FINN convention, as npy_to_rtlsim_input with reverse_inner=True):
// element i of a beat occupies bits [i*W +: W] (element 0 in the LSBs);
// signed values are two's complement; bipolar -1/+1 is bit 0/1.
//   input beat sf of a vector : x[sf*SIMD + s] at bits [s*IN_W +: IN_W]
//   output beat nf of a vector: y[nf*PE + p]   at bits [p*OUT_W +: OUT_W]
//                               (COUNT = 1: the count of the vector at bits
//                               [PE*OUT_W +: OUT_W]; the beat is (PE+COUNT)*OUT_W
//                               bits wide)
//
// Timing: a vector takes SF*NF cycles (SF = MW/SIMD, NF = MH/PE), as FINN's
// get_exp_cycles; the input is read during the first of the NF passes and
// buffered for the others.  Back-to-back vectors run without bubbles: the
// output queue holds OUT_DEPTH = ceil((4 + D_T) / SF) + 1 outputs, one more
// than a full-rate pipeline has in flight.
// Latency: 4 + D_T cycles from the last input beat of a pass to its output
// beat (the same with NO_ACT = 0 and 1, COUNT = 0 and 1), D_T = the register
// stages of the products and adder tree, LV = clog2(SIMD) adder levels:
//   WEIGHT_W = 1: one register every TREE_K = 3 adder levels and one at the
//                 root (one for SIMD = 1); with XNOR = 0 the negation counts
//                 as a level: XNOR = 1: D_T = 1 for SIMD <= 8, 2 for
//                 SIMD <= 64; XNOR = 0: 1 for SIMD <= 4, 2 for SIMD <= 32.
//   WEIGHT_W > 1: the product register, then one register every TREE_K adder
//                 levels and at the root: D_T = 1 for SIMD = 1, 2 for
//                 SIMD <= 8, 3 for SIMD <= 64 (1 + ceil(LV / 3)).
// Pipeline: A counters/weight read -> B weight word -> R registered weights and
// input -> [M products, WEIGHT_W > 1] -> T adder tree -> D accumulator ->
// C thresholds -> output (M and T together are the D_T stages).
//
// Memory files ($readmemh, one hex word per line, word 0 first):
//   WEIGHT_FILE: SF*NF words of PE*SIMD*WEIGHT_W bits; word (nf*SF + sf)
//                holds, at bits [(p*SIMD + s)*WEIGHT_W +: WEIGHT_W], the
//                weight W[sf*SIMD + s][nf*PE + p] (WEIGHT_W = 1: 1 = +1 /
//                binary 1, 0 = -1 / binary 0; else two's complement).
//                WEIGHT_PACK > 1 (memories deeper than one block RAM, whose
//                depth cascade would set Fmax): SF*NF/WEIGHT_PACK words of
//                WEIGHT_PACK of those words side by side, the first in the
//                low bits; the unit takes no input for the two cycles after
//                reset while the first word is read.
//   THRESH_FILE: (NO_ACT = 0 only) NF words of PE*N_THR*THR_W bits; word nf
//                holds, at bits [(p*N_THR + n)*THR_W +: THR_W], threshold n of
//                channel nf*PE + p, two's complement.
//   Written by hw_bnn/rtl/memfiles.py (write_mvau_weights, write_thresholds).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.
// Submodules: fold_param_rom (fold_param_rom.v) or packed_param_rom
// (packed_param_rom.v, WEIGHT_PACK > 1), the weight memory and its address
// counter; mvau_lane (mvau_lane.v), the terms and adder tree of each
// lane; threshold_count (threshold_count.v), the activation of NO_ACT = 0;
// credit_fifo (credit_fifo.v), the output register, queue and credits.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module mvau #(
    // Input vector length (FINN MW), >= 1.
    parameter MW = 16,
    // Output vector length (FINN MH), >= 1.
    parameter MH = 8,
    // Input elements per input beat, 1 .. MW, must divide MW.
    parameter SIMD = 4,
    // Output channels per output beat, 1 .. MH, must divide MH.
    parameter PE = 2,
    // 1: XNOR-popcount (1-bit inputs, requires IN_W = 1); 0: integer inputs.
    parameter XNOR = 1,
    // Input element width in bits, >= 1 (1 when XNOR = 1).
    parameter IN_W = 1,
    // XNOR = 0 only: 1 if inputs are two's complement, 0 if unsigned.
    parameter IN_SIGNED = 0,
    // Weight width: 1 = bipolar (XNOR = 0) / binary (XNOR = 1) bits;
    // 2 .. 16 = two's complement integers (XNOR = 0 and COUNT = 0 only).
    parameter WEIGHT_W = 1,
    // 1: no activation, output the accumulator; 0: thresholding.
    parameter NO_ACT = 0,
    // NO_ACT = 0: thresholds per channel, >= 1 (2^outbits - 1, usually 1).
    parameter N_THR = 1,
    // NO_ACT = 0: threshold width in bits (two's complement), 2 .. 32.
    parameter THR_W = 16,
    // NO_ACT = 0: integer added to the threshold count (FINN ActVal; 0 for
    // BINARY and BIPOLAR outputs).
    parameter ACT_BIAS = 0,
    // Output element width in bits, >= 1; NO_ACT = 0: <= 32 and 2^OUT_W > N_THR.
    // COUNT = 1: must also hold the count (see header).
    parameter OUT_W = 1,
    // 1: extra output lane PE with the all-ones-row accumulator of the vector
    // (requires NO_ACT = 1 and WEIGHT_W = 1); 0: PE output lanes only.
    parameter COUNT = 0,
    // Path of the weight memory file (see header).
    parameter WEIGHT_FILE = "weights.mem",
    // Where synthesis puts the weight memory: "auto", "block" or
    // "distributed" (LUT logic), FINN's ram_style (see fold_param_rom.v).
    parameter [8*11-1:0] WEIGHT_STYLE = "auto",
    // Beats per weight-memory word: 1, one beat a word (fold_param_rom.v);
    // >= 2, a deep memory stored wide (packed_param_rom.v, see header).
    parameter WEIGHT_PACK = 1,
    // Path of the threshold memory file (NO_ACT = 0 only, see header).
    parameter THRESH_FILE = "thresholds.mem"
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: SIMD elements of IN_W bits per beat
    input  wire [SIMD*IN_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE (+ COUNT) elements of OUT_W bits per beat
    output wire [(PE+COUNT)*OUT_W-1:0] m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

// synthesis-time constants
localparam SF = MW / SIMD;                      // input beats per vector
localparam NF = MH / PE;                        // output beats per vector
localparam WMEM = SF * NF;                      // weight words
localparam SF_W = (SF > 1) ? $clog2(SF) : 1;
localparam NF_W = (NF > 1) ? $clog2(NF) : 1;
// level-0 term width: an XNOR bit; W ? x : -x (IN_W + 1 bits); or the product
// W * x, |W * x| <= 2^(IN_W + WEIGHT_W - 1) (IN_W + WEIGHT_W bits)
localparam TERM_W = (XNOR != 0) ? 1 : (WEIGHT_W == 1) ? IN_W + 1 : IN_W + WEIGHT_W;
// signed accumulator width: |acc| <= MW * 2^(TERM_W - 1)
localparam ACC_W = TERM_W + $clog2(MW + 1);
localparam IW = SIMD * IN_W;                    // input beat width
localparam WW = PE * SIMD * WEIGHT_W;           // weight word width
localparam PT = PE + COUNT;                     // adder-tree / accumulator lanes
localparam OW = PT * OUT_W;                     // output beat width
localparam TW = PE * N_THR * THR_W;             // threshold word width
localparam [31:0] SF_LAST32 = SF - 1;
localparam [31:0] NF_LAST32 = NF - 1;
localparam [SF_W-1:0] SF_LAST = SF_LAST32[SF_W-1:0];
localparam [NF_W-1:0] NF_LAST = NF_LAST32[NF_W-1:0];

// adder trees: term width, levels, pipeline registers (built in mvau_lane.v
// and adder_tree.v; D_T counts their registers for the control delays)
localparam TERM_SIGNED = (XNOR != 0) ? 0 : 1;
localparam LV = (SIMD > 1) ? $clog2(SIMD) : 0;  // adder levels
localparam ROOT_W = TERM_W + LV;                // tree root width (<= ACC_W)
// integer weights: the products are registered (stage M), the tree starts
// after that register
localparam MUL_REG = (XNOR == 0 && WEIGHT_W > 1) ? 1 : 0;
// at most TREE_K adder levels between registers (the bipolar integer terms'
// negation counts as one level)
localparam TREE_K = 3;
localparam TREE_OFF = (XNOR == 0 && WEIGHT_W == 1) ? 1 : 0;

// 1 if tree level l (1 .. LV) is registered
function integer is_reg;
    input integer l;
    begin
        is_reg = (l == LV || (l + TREE_OFF) % TREE_K == 0) ? 1 : 0;
    end
endfunction

// register stages of the products (MUL_REG) and a tree of l levels (>= 1);
// a tree of no levels (SIMD = 1) has one register, the product register if any
function integer tree_stages;
    input integer l;
    integer k;
    begin
        tree_stages = (l == 0) ? 1 : MUL_REG;
        for (k = 1; k <= l; k = k + 1)
            tree_stages = tree_stages + is_reg(k);
    end
endfunction

localparam D_T = tree_stages(LV);
// outputs in flight at full rate (one every SF cycles over the 4 + D_T cycles
// from a pass's last beat to its output), plus one
localparam OUT_DEPTH = (4 + D_T + SF - 1) / SF + 1;

// parameter checks (simulation; Yosys stops on the unknown task)
initial begin
    if (MW < 1 || MH < 1 || SIMD < 1 || PE < 1) begin
        $error("mvau: MW, MH, SIMD, PE must be >= 1 (instance %m)");
        $finish;
    end
    if (MW % SIMD != 0 || MH % PE != 0) begin
        $error("mvau: SIMD must divide MW and PE must divide MH (instance %m)");
        $finish;
    end
    if (XNOR != 0 && IN_W != 1) begin
        $error("mvau: XNOR = 1 requires IN_W = 1 (instance %m)");
        $finish;
    end
    if (NO_ACT == 0 && (N_THR < 1 || THR_W < 2 || THR_W > 32 || OUT_W > 32 ||
                        (1 << OUT_W) <= N_THR)) begin
        $error("mvau: need N_THR >= 1, 2 <= THR_W <= 32, OUT_W <= 32, 2^OUT_W > N_THR (instance %m)");
        $finish;
    end
    if (WEIGHT_W < 1 || WEIGHT_W > 16 || (WEIGHT_W > 1 && (XNOR != 0 || COUNT != 0))) begin
        $error("mvau: WEIGHT_W must be 1 .. 16, and > 1 only with XNOR = 0, COUNT = 0 (instance %m)");
        $finish;
    end
    if (WEIGHT_PACK < 1 || WMEM % WEIGHT_PACK != 0 || (WEIGHT_PACK > 1 && WEIGHT_STYLE == "distributed")) begin
        $error("mvau: WEIGHT_PACK must be >= 1 and divide SF*NF, and 1 for a distributed weight memory (instance %m)");
        $finish;
    end
    if ((COUNT != 0 && COUNT != 1) || (COUNT != 0 && NO_ACT == 0)) begin
        $error("mvau: COUNT must be 0 or 1, and COUNT = 1 requires NO_ACT = 1 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------------------
// Credits: a beat enters while the output queue can take one more output
// (credit, a register of credit_fifo) and the weight memory is ready (a
// register; low only just after reset); the last beat of a pass reserves
// the place of its output.  Every register after stage A runs free.
wire credit;
wire w_ready;

// ---------------------------------------------------------------------------
// Stage A: fold counters, input buffer, weight read.
reg  [SF_W-1:0] sf_cnt;
reg  [NF_W-1:0] nf_cnt;
wire            first_pass = (nf_cnt == {NF_W{1'b0}});
wire            issue = credit && w_ready && (!first_pass || s_axis_tvalid);
wire            reserve = issue && (sf_cnt == SF_LAST);

assign s_axis_tready = credit && w_ready && first_pass;

reg  [IW-1:0]   x_b;               // stage B input
wire [WW-1:0]   w_b;               // stage B weights

// the weights of beat (nf_cnt, sf_cnt), one word per issued beat
generate
    if (WEIGHT_PACK > 1) begin : g_packed
        packed_param_rom #(
            .WIDTH(WW), .DEPTH(WMEM), .PACK(WEIGHT_PACK), .FILE(WEIGHT_FILE)
        ) u_weights (
            .clk(clk),
            .rst_n(rst_n),
            .next(issue),
            .ready(w_ready),
            .word(w_b)
        );
    end else begin : g_plain
        fold_param_rom #(
            .WIDTH(WW), .DEPTH(WMEM), .FILE(WEIGHT_FILE), .REG_READ(2), .STYLE(WEIGHT_STYLE)
        ) u_weights (
            .clk(clk),
            .rst_n(rst_n),
            .next(issue),
            .word(w_b)
        );
        assign w_ready = 1'b1;
    end
endgenerate

reg             b_v;
reg             b_first;
reg             b_last;
reg  [NF_W-1:0] b_nf;

wire [IW-1:0]   x_a;                            // input beat of this cycle
generate
    if (NF > 1) begin : g_ibuf
        reg [IW-1:0] ibuf [0:SF-1];
        always @(posedge clk) begin
            if (issue && first_pass)
                ibuf[sf_cnt] <= s_axis_tdata;
        end
        assign x_a = first_pass ? s_axis_tdata : ibuf[sf_cnt];
    end else begin : g_noibuf
        assign x_a = s_axis_tdata;
    end
endgenerate

always @(posedge clk) begin
    x_b <= x_a;
    b_first <= (sf_cnt == {SF_W{1'b0}});
    b_last <= (sf_cnt == SF_LAST);
    b_nf <= nf_cnt;
    b_v <= issue;
    if (issue) begin
        sf_cnt <= (sf_cnt == SF_LAST) ? {SF_W{1'b0}} : sf_cnt + 1'b1;
        if (sf_cnt == SF_LAST)
            nf_cnt <= (nf_cnt == NF_LAST) ? {NF_W{1'b0}} : nf_cnt + 1'b1;
    end
    if (!rst_n) begin
        sf_cnt <= {SF_W{1'b0}};
        nf_cnt <= {NF_W{1'b0}};
        b_v <= 1'b0;
    end
end

// ---------------------------------------------------------------------------
// Stage R: register the weight-memory output (block-RAM clock-to-output is
// slow, so nothing else sits on that path) and the input beat.
reg             r_v;
reg             r_first;
reg             r_last;
reg  [NF_W-1:0] r_nf;

always @(posedge clk) begin
    r_v <= b_v;
    r_first <= b_first;
    r_last <= b_last;
    r_nf <= b_nf;
    if (!rst_n)
        r_v <= 1'b0;
end

// Stages [M] T: the PT lanes (mvau_lane.v), each the products or XNORs of
// its weights with the input beat and their pipelined adder tree, the partial
// dot product of this beat.  Lane p's root at bits [p*ROOT_W +: ROOT_W] of
// `roots`; lane PE (COUNT = 1) has the constant all-ones weight row.
reg  [WW-1:0] w_r;
reg  [IW-1:0] x_r;
always @(posedge clk) begin
    w_r <= w_b;
    x_r <= x_b;
end

wire [PT*ROOT_W-1:0] roots;

genvar gp, gl;
generate
    for (gp = 0; gp < PT; gp = gp + 1) begin : g_lane
        wire [SIMD*WEIGHT_W-1:0] w_lane;
        if (gp < PE) begin : g_w
            assign w_lane = w_r[gp*SIMD*WEIGHT_W +: SIMD*WEIGHT_W];
        end else begin : g_ones
            // the count lane (COUNT = 1 requires WEIGHT_W = 1): all +1
            assign w_lane = {SIMD*WEIGHT_W{1'b1}};
        end
        mvau_lane #(
            .SIMD(SIMD), .XNOR(XNOR), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED),
            .WEIGHT_W(WEIGHT_W), .REG_EVERY(TREE_K)
        ) u_lane (
            .clk(clk),
            .x(x_r),
            .w(w_lane),
            .root(roots[gp*ROOT_W +: ROOT_W])
        );
    end
endgenerate

// control delayed alongside the tree: element k is stage R + k
reg  [D_T:0]          v_d;
reg  [D_T:0]          first_d;
reg  [D_T:0]          last_d;
reg  [(D_T+1)*NF_W-1:0] nf_d;
always @* begin
    v_d[0] = r_v;
    first_d[0] = r_first;
    last_d[0] = r_last;
    nf_d[0 +: NF_W] = r_nf;
end
generate
    for (gl = 1; gl <= D_T; gl = gl + 1) begin : g_dly
        reg             v_q;
        reg             first_q;
        reg             last_q;
        reg  [NF_W-1:0] nf_q;
        always @(posedge clk) begin
            v_q <= v_d[gl-1];
            first_q <= first_d[gl-1];
            last_q <= last_d[gl-1];
            nf_q <= nf_d[(gl-1)*NF_W +: NF_W];
            if (!rst_n)
                v_q <= 1'b0;
        end
        always @* begin
            v_d[gl] = v_q;
            first_d[gl] = first_q;
            last_d[gl] = last_q;
            nf_d[gl*NF_W +: NF_W] = nf_q;
        end
    end
endgenerate

// ---------------------------------------------------------------------------
// Stage D: accumulation of the tree roots.
wire                d_v = v_d[D_T];
wire                d_first = first_d[D_T];
wire                d_last = last_d[D_T];
reg  [PT*ACC_W-1:0] acc;
wire [PT*ACC_W-1:0] acc_next;
reg  [PT*ACC_W-1:0] c_acc;  // stage C accumulator
reg                 c_v;

generate
    for (gp = 0; gp < PT; gp = gp + 1) begin : g_acc
        wire [ROOT_W-1:0] root = roots[gp*ROOT_W +: ROOT_W];
        wire [ACC_W-1:0]  dot = {{(ACC_W-ROOT_W){(TERM_SIGNED != 0) && root[ROOT_W-1]}}, root};
        assign acc_next[gp*ACC_W +: ACC_W] =
            d_first ? dot : acc[gp*ACC_W +: ACC_W] + dot;
    end
endgenerate

always @(posedge clk) begin
    if (d_v)
        acc <= acc_next;
    c_acc <= acc_next;
    c_v <= d_v && d_last;
    if (!rst_n)
        c_v <= 1'b0;
end

// ---------------------------------------------------------------------------
// Stage C: activation (thresholds read one stage ahead and registered again),
// output register.
wire [OW-1:0]       out_next;

generate
    if (NO_ACT != 0) begin : g_noact
        // the fold index is only needed to address thresholds
        wire unused_noact = &{1'b0, nf_d, c_acc};
        for (gp = 0; gp < PT; gp = gp + 1) begin : g_pe
            if (OUT_W <= ACC_W) begin : g_trunc
                assign out_next[gp*OUT_W +: OUT_W] = c_acc[gp*ACC_W +: OUT_W];
            end else begin : g_sext
                assign out_next[gp*OUT_W +: OUT_W] =
                    {{(OUT_W-ACC_W){c_acc[gp*ACC_W+ACC_W-1]}}, c_acc[gp*ACC_W +: ACC_W]};
            end
        end
    end else begin : g_act
        reg [TW-1:0] tmem [0:NF-1];
        initial $readmemh(THRESH_FILE, tmem);
        reg [TW-1:0] t_d;                       // stage D thresholds
        reg [TW-1:0] t_c;                       // stage C thresholds
        wire unused_act = &{1'b0, nf_d[D_T*NF_W +: NF_W]};
        always @(posedge clk) begin
            t_d <= tmem[nf_d[(D_T-1)*NF_W +: NF_W]];
            t_c <= t_d;
        end
        threshold_count #(
            .PE(PE), .IN_W(ACC_W), .IN_SIGNED(1), .N_THR(N_THR), .THR_W(THR_W),
            .ACT_BIAS(ACT_BIAS), .OUT_W(OUT_W)
        ) u_count (
            .x(c_acc[0 +: PE*ACC_W]),
            .t(t_c),
            .y(out_next[0 +: PE*OUT_W])
        );
        if (COUNT != 0) begin : g_cnt
            // illegal (COUNT = 1 requires NO_ACT = 1, see the parameter
            // checks); tied off so that it still elaborates
            wire unused_cnt = &{1'b0, c_acc[PE*ACC_W +: ACC_W]};
            assign out_next[PE*OUT_W +: OUT_W] = {OUT_W{1'b0}};
        end
    end
endgenerate

// Output register and queue: every output finds the place its last beat
// reserved.
credit_fifo #(
    .WIDTH(OW), .DEPTH(OUT_DEPTH)
) u_out (
    .clk(clk),
    .rst_n(rst_n),
    .reserve(reserve),
    .credit(credit),
    .s_axis_tdata(out_next),
    .s_axis_tvalid(c_v),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
);

endmodule

`resetall
