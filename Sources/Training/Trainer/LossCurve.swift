import Foundation

/// An SVG line chart of training loss (and eval loss) against steps, written at the end of training.
public enum LossCurve {
    public static func svg(_ records: [MetricsRecord], title: String = "loss") -> String {
        let train = records.compactMap { r in r.loss.map { (Double(r.step), $0) } }
        let eval = records.compactMap { r in r.evalLoss.map { (Double(r.step), $0) } }
        let all = train + eval
        let (w, h, left, right, top, bottom) = (720.0, 420.0, 60.0, 20.0, 30.0, 40.0)
        var lines = [#"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="420" font-family="sans-serif" font-size="12">"#,
                     #"<rect width="720" height="420" fill="white"/>"#]
        guard let minX = all.map(\.0).min(), let maxX = all.map(\.0).max(),
              let minY = all.map(\.1).filter(\.isFinite).min(), let maxY = all.map(\.1).filter(\.isFinite).max() else {
            return (lines + [#"<text x="20" y="40">no metrics</text>"#, "</svg>"]).joined(separator: "\n")
        }
        let spanX = max(maxX - minX, 1), spanY = max(maxY - minY, 1e-6)
        func x(_ v: Double) -> Double { left + (v - minX) / spanX * (w - left - right) }
        func y(_ v: Double) -> Double { top + (maxY - v) / spanY * (h - top - bottom) }
        lines.append(String(format: #"<text x="%.0f" y="20">%@</text>"#, left, title))
        lines.append(String(format: #"<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>"#, left, h - bottom, w - right, h - bottom))
        lines.append(String(format: #"<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>"#, left, top, left, h - bottom))
        for i in 0...4 {
            let v = minY + spanY * Double(i) / 4
            lines.append(String(format: #"<text x="4" y="%.1f">%.3f</text>"#, y(v) + 4, v))
            let s = minX + spanX * Double(i) / 4
            lines.append(String(format: #"<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>"#, x(s), h - bottom + 16, s))
        }
        lines.append(String(format: #"<text x="%.1f" y="%.1f" text-anchor="middle">step</text>"#, (left + w - right) / 2, h - 6))
        func polyline(_ points: [(Double, Double)], color: String) -> String {
            let p = points.filter { $0.1.isFinite }.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            return #"<polyline fill="none" stroke-width="1.5" stroke="\#(color)" points="\#(p)"/>"#
        }
        lines.append(polyline(train, color: "#1f77b4"))
        lines.append(String(format: ##"<text x="%.0f" y="20" fill="#1f77b4">train</text>"##, w - 140))
        if !eval.isEmpty {
            lines.append(polyline(eval, color: "#d62728"))
            for (sx, sy) in eval where sy.isFinite {
                lines.append(String(format: ##"<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"/>"##, x(sx), y(sy)))
            }
            lines.append(String(format: ##"<text x="%.0f" y="20" fill="#d62728">eval</text>"##, w - 80))
        }
        lines.append("</svg>")
        return lines.joined(separator: "\n")
    }
}
