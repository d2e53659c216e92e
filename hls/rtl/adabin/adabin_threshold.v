// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// adabin_threshold -- AdaBin combine-and-threshold unit: folds the two
// accumulators of an XNOR unit that also counts its input (mvau.v with
// COUNT = 1: per channel the popcount acc_x, per vector the count acc_a) into
// one output bit per channel.  The definition is
// hw_bnn/features/adabin/reference.py (adabin_threshold_reference):
//
//   PASS = 0: for every channel c of a vector
//       L     = A[c] * acc_x[c] + B[c] * acc_a        (exact, signed)
//       count = (L >= T0[c]) + (L >= T1[c])           (0, 1 or 2; signed
//                                                      compares, each threshold
//                                                      on its own, unsorted ok)
//       bit   = DECODE[c][count]                      (DECODE: 3 bits, bit k is
//                                                      the output for count k)
//   PASS = 1: no arithmetic and no parameters (PARAM_FILE is not read, there
//       is no memory): every input beat is output unchanged, registered once
//       (the last layer, whose accumulators go to the host as they are).
//
// Channels are folded onto PE lanes: a vector is NF = C/PE beats of PE
// channels each (FINN's folded shape (..., NF, PE)); vectors follow each other
// back to back and the unit counts the beats of a vector itself (beat nf =
// 0 .. NF-1, then 0 again).  acc_a is carried in every beat and the value of
// each beat is used on its own (nothing is latched across beats).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.
//   PASS = 0: one global pipeline enable driven by a register (the output
//             skid_buffer, as mvau.v), so neither s_axis_tready nor any
//             pipeline register depends combinationally on m_axis_tready.
//   PASS = 1: s_axis_tready depends combinationally on m_axis_tvalid and
//             m_axis_tready (one enable, as thresholding.v).
//
// Packing (FINN convention): element i of a beat at bits [i*W +: W], element 0
// in the LSBs, two's complement for signed values.
//   input beat nf of a vector ((PE+1)*ACC_W bits):
//       acc_x of channel nf*PE + p at bits [p*ACC_W +: ACC_W], p = 0 .. PE-1
//       acc_a of the vector        at bits [PE*ACC_W +: ACC_W]
//       (both two's complement)
//   output beat nf of a vector:
//       PASS = 0: PE bits, bit p = output bit of channel nf*PE + p
//       PASS = 1: (PE+1)*ACC_W bits, the input beat unchanged
//
// Timing: one beat per cycle (II = 1) without bubbles while the output is
// ready.  Latency (input beat to output beat): PASS = 0: 4 cycles (stage 1
// input register and parameter read, stage 2 the two products, stage 3 their
// sum L, stage 4 compares and decode = output register); PASS = 1: 1 cycle.
//
// Memory file ($readmemh, one hex word per line, word 0 first; PASS = 0 only):
//   PARAM_FILE: NF words of PE*PW bits, PW = 2*COEF_W + 2*THR_W + 3; word nf
//               holds the fields of channel nf*PE + p at bits [p*PW +: PW],
//               from the LSB: A (COEF_W bits), B (COEF_W), T0 (THR_W),
//               T1 (THR_W), DECODE (3); all two's complement except DECODE
//               (hw_bnn/rtl/memfiles.py write_adabin_params).
//
// Reset: rst_n synchronous, active low; clears valid bits and counters only.
// Submodules (PASS = 0): fold_param_rom (fold_param_rom.v), the parameter
// memory and its beat counter; skid_buffer (skid_buffer.v), the output and
// skid registers.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module adabin_threshold #(
    // Number of channels, >= 1.
    parameter C = 4,
    // Channels per beat, 1 .. C, must divide C.
    parameter PE = 2,
    // Width of every input lane (acc_x and acc_a), two's complement, 2 .. 40.
    parameter ACC_W = 8,
    // Width of the coefficients A and B, two's complement, 2 .. 40.
    parameter COEF_W = 8,
    // Width of the thresholds T0 and T1, two's complement, 2 .. 64.
    parameter THR_W = 16,
    // Path of the parameter memory file (PASS = 0 only, see header).
    parameter PARAM_FILE = "adabin.mem",
    // 0: combine and threshold; 1: pass the input beats through unchanged.
    parameter PASS = 0
) (
    // Clock and reset
    input  wire                 clk,            // rising edge
    input  wire                 rst_n,          // synchronous, active low

    // AXI-Stream input: PE acc_x lanes and acc_a, ACC_W bits each
    input  wire [(PE+1)*ACC_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,

    // AXI-Stream output: PE bits (PASS = 0) or the input beat (PASS = 1)
    output wire [((PASS != 0) ? (PE+1)*ACC_W : PE)-1:0] m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready
);

localparam IW = (PE + 1) * ACC_W;               // input beat width
localparam NF = C / PE;                         // beats per vector
localparam PW = 2 * COEF_W + 2 * THR_W + 3;     // parameter fields of a lane
localparam TDW = 2 * THR_W + 3;                 // T0, T1, DECODE of a lane
localparam PRW = COEF_W + ACC_W;                // exact product width
localparam LW = PRW + 1;                        // exact L width
localparam CMP_W = ((LW > THR_W) ? LW : THR_W) + 1;     // compare width

// parameter checks (simulation; Yosys stops on the unknown task)
initial begin
    if (C < 1 || PE < 1 || C % PE != 0) begin
        $error("adabin_threshold: need C >= 1 and PE dividing C (instance %m)");
        $finish;
    end
    if (ACC_W < 2 || ACC_W > 40 || COEF_W < 2 || COEF_W > 40 || THR_W < 2 || THR_W > 64 ||
        (PASS != 0 && PASS != 1)) begin
        $error("adabin_threshold: illegal ACC_W/COEF_W/THR_W/PASS (instance %m)");
        $finish;
    end
end

genvar gp;
generate
    if (PASS != 0) begin : g_pass
        // one register stage, one enable
        wire en = !m_axis_tvalid || m_axis_tready;
        reg  [IW-1:0] y_q;
        reg           y_v;
        assign s_axis_tready = en;
        always @(posedge clk) begin
            if (en) begin
                y_q <= s_axis_tdata;
                y_v <= s_axis_tvalid;
            end
            if (!rst_n)
                y_v <= 1'b0;
        end
        assign m_axis_tdata = y_q;
        assign m_axis_tvalid = y_v;
    end else begin : g_thr
        // -------------------------------------------------------------------
        // Global pipeline enable: everything advances unless the output skid
        // register is occupied (en is a register output of u_out).
        wire en;
        wire take = en && s_axis_tvalid;
        assign s_axis_tready = en;

        // -------------------------------------------------------------------
        // Stage 1: input register, beat counter, parameter read (p_1: the
        // parameters of x_1).
        reg  [IW-1:0]     x_1;
        wire [PE*PW-1:0]  p_1;
        reg               v_1;

        fold_param_rom #(
            .WIDTH(PE*PW), .DEPTH(NF), .FILE(PARAM_FILE), .REG_READ(1)
        ) u_params (
            .clk(clk),
            .rst_n(rst_n),
            .next(take),
            .word(p_1)
        );

        always @(posedge clk) begin
            if (take)
                x_1 <= s_axis_tdata;
            if (en)
                v_1 <= s_axis_tvalid;
            if (!rst_n)
                v_1 <= 1'b0;
        end

        // valid bits of stages 2 .. 4 (stage 4 = output register)
        reg v_2, v_3;
        always @(posedge clk) begin
            if (en) begin
                v_2 <= v_1;
                v_3 <= v_2;
            end
            if (!rst_n) begin
                v_2 <= 1'b0;
                v_3 <= 1'b0;
            end
        end

        wire signed [ACC_W-1:0] acc_a = x_1[PE*ACC_W +: ACC_W];
        wire [PE-1:0] y;                        // stage 3 -> output register

        for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
            wire [PW-1:0]            pf = p_1[gp*PW +: PW];
            wire signed [COEF_W-1:0] a = pf[0 +: COEF_W];
            wire signed [COEF_W-1:0] b = pf[COEF_W +: COEF_W];
            wire signed [ACC_W-1:0]  x = x_1[gp*ACC_W +: ACC_W];

            // Stage 2: the two exact products (operands sign-extended to PRW)
            wire signed [PRW-1:0] ax = {{ACC_W{a[COEF_W-1]}}, a};
            wire signed [PRW-1:0] bx = {{ACC_W{b[COEF_W-1]}}, b};
            wire signed [PRW-1:0] xx = {{COEF_W{x[ACC_W-1]}}, x};
            wire signed [PRW-1:0] ab = {{COEF_W{acc_a[ACC_W-1]}}, acc_a};
            reg  signed [PRW-1:0] px_2;
            reg  signed [PRW-1:0] pa_2;
            reg  [TDW-1:0]        t_2;
            always @(posedge clk) begin
                if (en) begin
                    px_2 <= ax * xx;
                    pa_2 <= bx * ab;
                    t_2 <= pf[2*COEF_W +: TDW];
                end
            end

            // Stage 3: L = A*acc_x + B*acc_a
            reg  [LW-1:0]  l_3;
            reg  [TDW-1:0] t_3;
            always @(posedge clk) begin
                if (en) begin
                    l_3 <= {px_2[PRW-1], px_2} + {pa_2[PRW-1], pa_2};
                    t_3 <= t_2;
                end
            end

            // Stage 4 input: signed compares and decode
            wire [CMP_W-1:0] lc = {{(CMP_W-LW){l_3[LW-1]}}, l_3};
            wire [CMP_W-1:0] t0 = {{(CMP_W-THR_W){t_3[THR_W-1]}}, t_3[0 +: THR_W]};
            wire [CMP_W-1:0] t1 = {{(CMP_W-THR_W){t_3[2*THR_W-1]}}, t_3[THR_W +: THR_W]};
            wire [2:0]       dec = t_3[2*THR_W +: 3];
            wire             ge0 = $signed(lc) >= $signed(t0);
            wire             ge1 = $signed(lc) >= $signed(t1);
            // count 0: dec[0]; count 1: dec[1]; count 2: dec[2]
            assign y[gp] = (ge0 && ge1) ? dec[2] : (ge0 || ge1) ? dec[1] : dec[0];
        end

        // -------------------------------------------------------------------
        // Output register and skid register: a beat leaves the pipeline
        // whenever en is high; if the output register is stalled it goes to
        // the skid register, which drops en until the output register takes
        // it.
        skid_buffer #(
            .WIDTH(PE)
        ) u_out (
            .clk(clk),
            .rst_n(rst_n),
            .s_axis_tdata(y),
            .s_axis_tvalid(v_3),
            .s_axis_tready(en),
            .m_axis_tdata(m_axis_tdata),
            .m_axis_tvalid(m_axis_tvalid),
            .m_axis_tready(m_axis_tready)
        );
    end
endgenerate

endmodule

`resetall
