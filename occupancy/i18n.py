"""Visitor-facing texts in Indonesian (the default) and English, one dict per language.

Templates read ``t[...]``; the visitor page hands the ``js`` subset to its script as JSON, so no
text is hard-coded in JavaScript. ``{placeholders}`` are filled by whoever shows the text.
"""

DEFAULT = "id"
COOKIE = "lang"

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "html_lang": "id",
        "switch_label": "English",
        "switch_to": "en",
        "app_name": "Cek-in Aman",
        "landing_title": "Cek-in di tempat tujuan Anda",
        "landing_body": "Pindai kode QR yang terpasang di pintu masuk tempat tujuan dengan kamera "
                        "ponsel Anda. Halaman cek-in akan terbuka; tidak perlu memasang aplikasi.",
        "landing_api": "Untuk pengembang: dokumentasi API",
        "crowd": "Keramaian sekarang",
        "level_low": "Sepi",
        "level_busy": "Ramai",
        "level_full": "Penuh",
        "level_unknown": "Tidak diketahui",
        "level_paused": "Masuk ditunda",
        "people_inside": "{count} dari {capacity} orang",
        "updated_offline": "Tidak ada koneksi; angka mungkin tidak terbaru.",
        "form_title": "Cek-in",
        "name": "Nama",
        "phone": "Nomor HP",
        "email": "Email (tidak wajib)",
        "party_size": "Jumlah orang",
        "party_hint": "Anda dan rombongan Anda, termasuk anak-anak (maks. {max}).",
        "fewer": "Kurangi",
        "more": "Tambah",
        "submit": "Cek-in sekarang",
        "sending": "Mengirim…",
        "privacy": "Data Anda hanya dipakai untuk pelacakan kontak.",
        "noscript": "Halaman ini membutuhkan JavaScript untuk cek-in.",
        "ticket_ok": "Cek-in berhasil",
        "ticket_show": "Tunjukkan layar ini kepada petugas di pintu.",
        "checked_in_at": "Waktu cek-in",
        "party": "Jumlah orang",
        "party_people": "{n} orang",
        "ticket_code": "Kode tiket",
        "door_code": "Kode untuk petugas",
        "ticket_qr_alt": "Kode QR tiket Anda, untuk dipindai petugas",
        "now": "Sekarang",
        "check_out": "Check out / Keluar",
        "checking_out": "Memproses…",
        "done_title": "Anda sudah check out. Terima kasih!",
        "done_body": "Terima kasih telah berkunjung ke {venue}. Sampai jumpa lagi!",
        "done_auto": "Kunjungan Anda sudah diakhiri sebelumnya oleh petugas atau sistem.",
        "check_in_again": "Cek-in lagi",
        "full_title": "Penuh",
        "full_body": "Maaf, {venue} sedang penuh atau tidak ada cukup tempat untuk rombongan Anda.",
        "full_count": "{count} dari {capacity} orang di dalam",
        "full_retry": "Silakan tunggu sekitar {minutes} menit, lalu coba lagi.",
        "paused_title": "Masuk ditunda",
        "paused_body": "Pengelola {venue} sedang menunda masuk. Silakan coba lagi nanti.",
        "retry": "Coba lagi",
        "back": "Kembali ke formulir",
        "error_network": "Tidak ada koneksi. Periksa internet Anda lalu tekan tombol lagi.",
        "error_server": "Layanan sedang sibuk; tidak ada yang tersimpan. Silakan coba lagi.",
        "error_generic": "Terjadi kesalahan. Silakan coba lagi.",
        "error_unknown_ticket": "Tiket ini tidak dikenal lagi. Silakan cek-in kembali.",
        "error_field_name": "Masukkan nama Anda (maksimal 100 karakter).",
        "error_field_phone": "Masukkan nomor HP 8–15 angka, mis. 0812 3456 7890 atau +62812…",
        "error_field_email": "Alamat email ini tampaknya tidak benar.",
        "error_field_party_size": "Jumlah orang harus antara 1 dan {max}.",
        "error_page_title": "Halaman tidak ditemukan",
        "error_title_forged_venue_code": "Kode QR tidak sah",
        "error_title_unknown_venue": "Tempat tidak ditemukan",
        "error_forged_venue_code": "Kode tempat ini tidak sah. Pindai lagi kode QR pada poster "
                                   "di pintu masuk tempat tersebut.",
        "error_unknown_venue": "Tempat ini tidak kami kenal. Pindai lagi kode QR pada poster "
                               "di pintu masuk.",
        "error_not_found": "Halaman ini tidak ada.",
        "home": "Ke halaman awal",
        "category_mall": "Mal",
        "category_shop": "Toko",
        "category_market": "Pasar",
        "category_park": "Taman",
        "category_station": "Stasiun",
        "category_office": "Kantor",
    },
    "en": {
        "html_lang": "en",
        "switch_label": "Bahasa Indonesia",
        "switch_to": "id",
        "app_name": "Safe Check-in",
        "landing_title": "Check in where you are going",
        "landing_body": "Scan the QR code at the entrance of the venue with your phone's camera. "
                        "The check-in page opens; there is no app to install.",
        "landing_api": "For developers: the API documentation",
        "crowd": "Crowd right now",
        "level_low": "Quiet",
        "level_busy": "Busy",
        "level_full": "Full",
        "level_unknown": "Unknown",
        "level_paused": "Entry paused",
        "people_inside": "{count} of {capacity} people",
        "updated_offline": "No connection; the numbers may be out of date.",
        "form_title": "Check in",
        "name": "Name",
        "phone": "Phone number",
        "email": "Email (optional)",
        "party_size": "Number of people",
        "party_hint": "You and your companions, children included (max. {max}).",
        "fewer": "Fewer",
        "more": "More",
        "submit": "Check in now",
        "sending": "Sending…",
        "privacy": "Your details are used only for contact tracing.",
        "noscript": "This page needs JavaScript to check in.",
        "ticket_ok": "Checked in",
        "ticket_show": "Show this screen to the staff at the door.",
        "checked_in_at": "Checked in at",
        "party": "Party size",
        "party_people": "{n} people",
        "ticket_code": "Ticket code",
        "door_code": "Code for the staff",
        "ticket_qr_alt": "Your ticket's QR code, for the staff to scan",
        "now": "Now",
        "check_out": "Check out / Keluar",
        "checking_out": "Working…",
        "done_title": "You are checked out. Thank you!",
        "done_body": "Thank you for visiting {venue}. See you again!",
        "done_auto": "Your visit had already been ended by the staff or the system.",
        "check_in_again": "Check in again",
        "full_title": "Full",
        "full_body": "Sorry, {venue} is full or there is not enough room for your party.",
        "full_count": "{count} of {capacity} people inside",
        "full_retry": "Please wait about {minutes} minutes, then try again.",
        "paused_title": "Entry paused",
        "paused_body": "The manager of {venue} has paused entry. Please try again later.",
        "retry": "Try again",
        "back": "Back to the form",
        "error_network": "No connection. Check your internet, then press the button again.",
        "error_server": "The service is busy; nothing was saved. Please try again.",
        "error_generic": "Something went wrong. Please try again.",
        "error_unknown_ticket": "This ticket is no longer known. Please check in again.",
        "error_field_name": "Please give your name (up to 100 characters).",
        "error_field_phone": "Please give a phone number of 8 to 15 digits, e.g. 0812 3456 7890 "
                             "or +62812…",
        "error_field_email": "That email address does not look right.",
        "error_field_party_size": "The number of people must be between 1 and {max}.",
        "error_page_title": "Page not found",
        "error_title_forged_venue_code": "QR code not valid",
        "error_title_unknown_venue": "Venue not found",
        "error_forged_venue_code": "This venue code is not valid. Scan the QR code on the poster at "
                                   "the venue's entrance again.",
        "error_unknown_venue": "We do not know this venue. Scan the QR code on the poster at the "
                               "entrance again.",
        "error_not_found": "This page does not exist.",
        "home": "Go to the start page",
        "category_mall": "Mall",
        "category_shop": "Shop",
        "category_market": "Market",
        "category_park": "Park",
        "category_station": "Station",
        "category_office": "Office",
    },
}

# What the visitor page's script needs, handed over as JSON in the page.
JS_KEYS = (
    "level_low", "level_busy", "level_full", "level_unknown", "level_paused", "people_inside",
    "updated_offline", "submit", "sending", "party_people", "check_out", "checking_out",
    "done_body", "done_auto", "full_count", "full_retry", "error_network", "error_server",
    "error_generic", "error_unknown_ticket", "error_field_name", "error_field_phone",
    "error_field_email", "error_field_party_size",
)


def choose(requested: str | None, remembered: str | None) -> str:
    """The visitor's language: an explicit ``?lang=``, else the cookie, else Indonesian."""
    for lang in (requested, remembered):
        if lang in TEXTS:
            return lang
    return DEFAULT


def texts(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS[DEFAULT])


def js_texts(lang: str) -> dict[str, str]:
    t = texts(lang)
    return {key: t[key] for key in JS_KEYS}


def category(lang: str, name: str) -> str:
    return texts(lang).get(f"category_{name}", name)
