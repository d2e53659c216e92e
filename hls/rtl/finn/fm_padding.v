// SPDX-License-Identifier: MIT
// Copyright (c) hw_bnn contributors
// Language: Verilog 2001
//
// fm_padding -- zero padding around each image of an NHWC pixel stream
// (FINN node `FMPadding`, made by FINN's InferConvInpGen for a padded conv).
//
// Each input image of IMG_H x IMG_W pixels becomes an output image of
// OH = PAD_T + IMG_H + PAD_B rows by OW = PAD_L + IMG_W + PAD_R columns: row
// oy, column ox of the output is input pixel (oy - PAD_T, ox - PAD_L) where
// that lies inside the image, else a pixel of zeros.  This is FINN's python
// execution of FMPadding: numpy.pad of the (1, H, W, C) tensor with
// ((0, 0), (Padding[0], Padding[2]), (Padding[1], Padding[3]), (0, 0)) and
// value 0, FINN's Padding = [top, left, bottom, right].  Asymmetric padding
// and non-square images are supported.
//
// Stream order (in and out): pixels row-major, per pixel CF = C/SIMD beats of
// SIMD channels (FINN's folded shape (1, H, W, CF, SIMD)); channel
// cf*SIMD + s of a pixel at bits [s*ELEM_W +: ELEM_W] of beat cf.  The data
// pass through unchanged, so any element type with zero encoded as all-zero
// bits is handled (unsigned, two's complement, BINARY; not BIPOLAR).
//
// Stream protocol (AXI-Stream subset): a beat transfers on a rising clk edge
// where tvalid && tready.  m_axis_tvalid never depends on m_axis_tready;
// m_axis_tdata is held while tvalid && !tready.  s_axis_tready depends
// combinationally on m_axis_tvalid/m_axis_tready (one global enable), and is
// low while a padding beat is being produced.  The first output beat of an
// image (a padding beat too) waits for s_axis_tvalid of the image's first
// input beat, so the module never emits beats of an image that has not begun;
// the bottom/right padding after an image's last input beat goes out at once.
//
// Timing: one output beat per cycle (OH*OW*CF cycles per image, FINN's
// expected cycles), an input beat reaches the output 1 cycle after it is
// taken.
//
// Reset: rst_n synchronous, active low; clears counters and the valid bit.
// Submodules: none.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module fm_padding #(
    // Input image height and width in pixels (FINN ImgDim = [H, W]), >= 1.
    parameter IMG_H = 4,
    parameter IMG_W = 4,
    // Zero rows above / columns left / rows below / columns right
    // (FINN Padding = [top, left, bottom, right]), >= 0.
    parameter PAD_T = 1,
    parameter PAD_L = 1,
    parameter PAD_B = 1,
    parameter PAD_R = 1,
    // Channels per pixel (FINN NumChannels), >= 1.
    parameter C = 2,
    // Channels per beat (FINN SIMD), 1 .. C, must divide C.
    parameter SIMD = 1,
    // Bits per element, >= 1.
    parameter ELEM_W = 8
) (
    // Clock and reset
    input  wire                   clk,          // rising edge
    input  wire                   rst_n,        // synchronous, active low

    // AXI-Stream input: SIMD elements per beat, IMG_H*IMG_W*C/SIMD beats per image
    input  wire [SIMD*ELEM_W-1:0] s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,

    // AXI-Stream output: SIMD elements per beat, OH*OW*C/SIMD beats per image
    output wire [SIMD*ELEM_W-1:0] m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);

localparam OH = PAD_T + IMG_H + PAD_B;
localparam OW = PAD_L + IMG_W + PAD_R;
localparam CF = C / SIMD;                       // beats per pixel
localparam DW = SIMD * ELEM_W;
localparam Y_W = $clog2(OH + 1);                // counters also hold the limits below
localparam X_W = $clog2(OW + 1);
localparam CF_W = (CF > 1) ? $clog2(CF) : 1;
localparam [31:0] OH_LAST32 = OH - 1;
localparam [31:0] OW_LAST32 = OW - 1;
localparam [31:0] CF_LAST32 = CF - 1;
localparam [31:0] T32 = PAD_T;
localparam [31:0] TH32 = PAD_T + IMG_H;
localparam [31:0] L32 = PAD_L;
localparam [31:0] LW32 = PAD_L + IMG_W;
localparam [Y_W-1:0] OH_LAST = OH_LAST32[Y_W-1:0];
localparam [X_W-1:0] OW_LAST = OW_LAST32[X_W-1:0];
localparam [CF_W-1:0] CF_LAST = CF_LAST32[CF_W-1:0];
localparam [Y_W-1:0] Y_LO = T32[Y_W-1:0];
localparam [Y_W-1:0] Y_HI = TH32[Y_W-1:0];
localparam [X_W-1:0] X_LO = L32[X_W-1:0];
localparam [X_W-1:0] X_HI = LW32[X_W-1:0];

initial begin
    if (IMG_H < 1 || IMG_W < 1 || PAD_T < 0 || PAD_L < 0 || PAD_B < 0 || PAD_R < 0 ||
        C < 1 || SIMD < 1 || C % SIMD != 0 || ELEM_W < 1) begin
        $error("fm_padding: need IMG_H, IMG_W >= 1, paddings >= 0, SIMD dividing C (instance %m)");
        $finish;
    end
end

reg  [Y_W-1:0]  oy;                             // output row
reg  [X_W-1:0]  ox;                             // output column
reg  [CF_W-1:0] cf;                             // beat within the pixel
reg  [DW-1:0]   out_q;
reg             out_v;

// inside the image (the lower bounds hold trivially without top/left padding)
wire y_ge, x_ge;
generate
    if (PAD_T > 0) begin : g_top
        assign y_ge = (oy >= Y_LO);
    end else begin : g_no_top
        assign y_ge = 1'b1;
    end
    if (PAD_L > 0) begin : g_left
        assign x_ge = (ox >= X_LO);
    end else begin : g_no_left
        assign x_ge = 1'b1;
    end
endgenerate
wire in_img = y_ge && (oy < Y_HI) && x_ge && (ox < X_HI);
wire en = !out_v || m_axis_tready;
assign s_axis_tready = en && in_img;
// an image's output starts only once its first input beat is offered (without taking
// it unless it is inside), so no padding beat of an image runs ahead of its data
wire start = (oy == {Y_W{1'b0}}) && (ox == {X_W{1'b0}}) && (cf == {CF_W{1'b0}});
wire load = en && ((!in_img && !start) || s_axis_tvalid);   // an output beat is made this cycle

wire cf_last = (cf == CF_LAST);
wire ox_last = (ox == OW_LAST);
wire oy_last = (oy == OH_LAST);

always @(posedge clk) begin
    if (en)
        out_v <= load;
    if (load) begin
        out_q <= in_img ? s_axis_tdata : {DW{1'b0}};
        cf <= cf_last ? {CF_W{1'b0}} : cf + 1'b1;
        if (cf_last) begin
            ox <= ox_last ? {X_W{1'b0}} : ox + 1'b1;
            if (ox_last)
                oy <= oy_last ? {Y_W{1'b0}} : oy + 1'b1;
        end
    end
    if (!rst_n) begin
        oy <= {Y_W{1'b0}};
        ox <= {X_W{1'b0}};
        cf <= {CF_W{1'b0}};
        out_v <= 1'b0;
    end
end

assign m_axis_tdata = out_q;
assign m_axis_tvalid = out_v;

endmodule

`resetall
