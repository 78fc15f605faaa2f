import CAtelier
import Foundation

/// An sRGB colour of the pictures a run writes.
public struct Colour: Sendable, Equatable {
    /// The components, 0 to 255.
    public var red: UInt8, green: UInt8, blue: UInt8
    /// A colour from its components.
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) { (self.red, self.green, self.blue) = (red, green, blue) }

    /// White.
    public static let white = Colour(255, 255, 255)
    /// Black.
    public static let black = Colour(0, 0, 0)
    var components: (Double, Double, Double) { (Double(red) / 255, Double(green) / 255, Double(blue) / 255) }
}

/// A drawing surface for charts and labelled sheets: antialiased lines and
/// text through cairo (with DejaVu Sans, or whatever font fontconfig finds),
/// pictures laid in pixel for pixel, read back as a PixelImage.
final class Canvas {
    enum Alignment { case left, center, right }

    let width: Int, height: Int
    private let surface: OpaquePointer
    private let context: OpaquePointer
    static let font = "DejaVu Sans"
    /// cairo's own limit on an image surface's side.
    static let maximumSide = 32767

    init(width: Int, height: Int, background: Colour = .white) throws {
        guard (1...Self.maximumSide).contains(width), (1...Self.maximumSide).contains(height) else {
            throw ImageFileError("a picture of \(width)x\(height) pixels cannot be drawn (each side must be 1 to \(Self.maximumSide))")
        }
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height)) else {
            throw ImageFileError("cairo could not make a \(width)x\(height) picture")
        }
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS, let context = cairo_create(surface) else {
            let why = String(cString: cairo_status_to_string(status))
            cairo_surface_destroy(surface)
            throw ImageFileError("cairo could not make a \(width)x\(height) picture: \(why)")
        }
        (self.width, self.height, self.surface, self.context) = (width, height, surface, context)
        fill(x: 0, y: 0, width: Double(width), height: Double(height), colour: background)
    }

    deinit {
        cairo_destroy(context)
        cairo_surface_destroy(surface)
    }

    private func setColour(_ colour: Colour, alpha: Double = 1) {
        let (r, g, b) = colour.components
        cairo_set_source_rgba(context, r, g, b, alpha)
    }

    func fill(x: Double, y: Double, width: Double, height: Double, colour: Colour, alpha: Double = 1) {
        setColour(colour, alpha: alpha)
        cairo_rectangle(context, x, y, width, height)
        cairo_fill(context)
    }

    /// A line through `points`; a nil point lifts the pen (a gap in a series).
    func line(_ points: [(x: Double, y: Double)?], colour: Colour, width: Double = 1, alpha: Double = 1, dash: [Double] = []) {
        var penDown = false
        for point in points {
            guard let point else { penDown = false; continue }
            if penDown { cairo_line_to(context, point.x, point.y) } else { cairo_move_to(context, point.x, point.y) }
            penDown = true
        }
        setColour(colour, alpha: alpha)
        cairo_set_line_width(context, width)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        dash.withUnsafeBufferPointer { cairo_set_dash(context, $0.baseAddress, Int32($0.count), 0) }
        cairo_stroke(context)
        cairo_set_dash(context, nil, 0, 0)
    }

    /// A filled disc of `radius` centred on (x, y).
    func dot(x: Double, y: Double, radius: Double, colour: Colour) {
        setColour(colour)
        cairo_new_path(context)
        cairo_arc(context, x, y, radius, 0, 2 * Double.pi)
        cairo_fill(context)
    }

    /// Draws only inside the rectangle until `unclip()`.
    func clip(x: Double, y: Double, width: Double, height: Double) {
        cairo_rectangle(context, x, y, width, height)
        cairo_clip(context)
    }

    func unclip() { cairo_reset_clip(context) }

    private func setFont(size: Double, bold: Bool) {
        cairo_select_font_face(context, Self.font, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, size)
    }

    /// How far `text` advances the pen.
    func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
        setFont(size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(context, text, &extents)
        return extents.x_advance
    }

    /// `text` on the baseline `y`, starting, centred or ending at `x`;
    /// `vertical` turns it to read upwards (an axis title).
    func text(_ text: String, x: Double, y: Double, size: Double, colour: Colour = .black, bold: Bool = false,
              align: Alignment = .left, vertical: Bool = false) {
        let advance = textWidth(text, size: size, bold: bold)
        let shift = align == .left ? 0 : align == .center ? -advance / 2 : -advance
        cairo_save(context)
        cairo_translate(context, x, y)
        if vertical { cairo_rotate(context, -Double.pi / 2) }
        cairo_move_to(context, shift, 0)
        setColour(colour)
        cairo_show_text(context, text)
        cairo_restore(context)
    }

    /// Lays `image` in with its top left corner at (x, y), pixel for pixel
    /// (gray images as gray), cut off at the canvas's edges.
    func place(_ image: PixelImage, x: Int, y: Int) {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface)) / 4
        let words = UnsafeMutableRawPointer(cairo_image_surface_get_data(surface)!).assumingMemoryBound(to: UInt32.self)
        for row in max(0, -y)..<max(0, min(image.height, height - y)) {
            for column in max(0, -x)..<max(0, min(image.width, width - x)) {
                let i = (row * image.width + column) * image.channels
                let (r, g, b) = image.channels == 1 ? (image.pixels[i], image.pixels[i], image.pixels[i])
                    : (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
                words[(y + row) * stride + x + column] = UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)
            }
        }
        cairo_surface_mark_dirty(surface)
    }

    /// The pixels drawn so far, as RGB, or as gray when `gray` (the mean of
    /// the channels: for pictures drawn in grays only).
    func image(gray: Bool = false) -> PixelImage {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface)) / 4
        let words = UnsafeRawPointer(cairo_image_surface_get_data(surface)!).assumingMemoryBound(to: UInt32.self)
        let channels = gray ? 1 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let word = words[y * stride + x]
                let (r, g, b) = (UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF))
                let i = (y * width + x) * channels
                if gray {
                    pixels[i] = UInt8((UInt16(r) + UInt16(g) + UInt16(b)) / 3)
                } else {
                    (pixels[i], pixels[i + 1], pixels[i + 2]) = (r, g, b)
                }
            }
        }
        return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
