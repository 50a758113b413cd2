"""The local stack's ERP: a SQLite file with the ERP's tables and a small Italian wholesaler's data, for the ERP procedures.

Its schema is the adapter's (ferry.procedures.sqlalchemy_erp), so what the demo holds
is exactly what the procedures read. A file that exists is kept as it is: like a real
ERP, it keeps the orders exported to it across restarts, as the entity store does.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from ferry.procedures import sqlalchemy_erp as erp

AGENTS = [
    {"AgentCode": "AG01", "Name": "Marco Rossi", "Email": "marco.rossi@example.org"},
    {"AgentCode": "AG02", "Name": "Giulia Bianchi", "Email": "giulia.bianchi@example.org"},
    {"AgentCode": "AG03", "Name": "Luca Esposito", "Email": "luca.esposito@example.org"},
]

# (description, unit of measure, list price in EUR)
_PRODUCTS = [
    ("Pasta di semola spaghetti 500 g", "PZ", 0.89), ("Pasta di semola penne rigate 500 g", "PZ", 0.89),
    ("Pasta all'uovo tagliatelle 250 g", "PZ", 1.59), ("Riso Carnaroli 1 kg", "PZ", 3.20),
    ("Farina tipo 00 1 kg", "PZ", 0.79), ("Olio extravergine d'oliva 1 l", "PZ", 8.90),
    ("Olio extravergine d'oliva 5 l", "LT", 39.50), ("Passata di pomodoro 700 g", "PZ", 1.10),
    ("Pomodori pelati 400 g", "PZ", 0.85), ("Aceto balsamico di Modena IGP 500 ml", "PZ", 4.70),
    ("Parmigiano Reggiano 24 mesi", "KG", 21.90), ("Grana Padano 16 mesi", "KG", 15.40),
    ("Mozzarella di bufala campana 250 g", "PZ", 2.95), ("Prosciutto crudo di Parma", "KG", 24.80),
    ("Mortadella Bologna IGP", "KG", 11.60), ("Tonno all'olio d'oliva 3x80 g", "CF", 3.49),
    ("Caffè macinato espresso 250 g", "PZ", 3.99), ("Caffè in grani 1 kg", "PZ", 14.50),
    ("Biscotti frollini 700 g", "PZ", 2.49), ("Fette biscottate 36 pz", "CF", 1.99),
    ("Acqua minerale naturale 1,5 l x6", "CF", 1.80), ("Acqua minerale frizzante 1,5 l x6", "CF", 1.80),
    ("Vino rosso Chianti DOCG 75 cl", "PZ", 6.90), ("Vino bianco Soave DOC 75 cl", "PZ", 5.40),
    ("Prosecco DOC extra dry 75 cl", "PZ", 7.80), ("Birra lager 33 cl x24", "CF", 19.90),
    ("Limoncello 70 cl", "PZ", 9.90), ("Nutella 750 g", "PZ", 5.60),
    ("Zucchero semolato 1 kg", "PZ", 1.05), ("Sale marino grosso 1 kg", "PZ", 0.45),
    ("Pesto alla genovese 190 g", "PZ", 2.30), ("Sugo al ragù 400 g", "PZ", 2.60),
    ("Legumi misti secchi 500 g", "PZ", 1.70), ("Ceci lessati 400 g", "PZ", 0.75),
    ("Taralli pugliesi 500 g", "PZ", 2.20), ("Panettone artigianale 1 kg", "PZ", 18.50),
]
# Every ninth item has no picture yet: an ERP rarely has one for every article.
ITEMS = [
    {
        "ItemCode": f"ART-{n:04d}",
        "Description": description,
        "UnitOfMeasure": unit,
        "ImageUrl": None if n % 9 == 0 else f"https://example.org/images/items/ART-{n:04d}.jpg",
    }
    for n, (description, unit, _) in enumerate(_PRODUCTS, start=1)
]
WAREHOUSES = ("MAG-MI", "MAG-NA")
ITEM_OFFLINE_AVAILABILITY = [
    {"ItemCode": item["ItemCode"], "Warehouse": warehouse, "Quantity": float((n * 37 + w * 11) % 240)}
    for n, item in enumerate(ITEMS, start=1)
    for w, warehouse in enumerate(WAREHOUSES)
]
PRICES = [
    {"ItemCode": f"ART-{n:04d}", "PriceList": price_list, "Price": round(price * factor, 2), "Currency": "EUR"}
    for n, (_, _, price) in enumerate(_PRODUCTS, start=1)
    for price_list, factor in (("LISTINO-BASE", 1.0), ("LISTINO-HORECA", 0.9))
]

# (company name, street, city, postal code, agent); coordinates only where the ERP already had them.
_CUSTOMERS = [
    ("Alimentari Rossi S.n.c.", "Via Roma 12", "Milano", "20121", "AG01"),
    ("Bar Centrale di Ferri Paolo", "Piazza del Duomo 3", "Milano", "20122", "AG01"),
    ("Trattoria da Gino S.r.l.", "Via Paolo Sarpi 45", "Milano", "20154", "AG01"),
    ("Supermercato Sole S.p.A.", "Corso Buenos Aires 77", "Milano", "20124", "AG01"),
    ("Gastronomia Bergamasca", "Via XX Settembre 18", "Bergamo", "24122", "AG01"),
    ("Enoteca Al Portico", "Via Mazzini 9", "Brescia", "25121", "AG01"),
    ("Pizzeria Vesuvio S.a.s.", "Via Toledo 256", "Napoli", "80134", "AG02"),
    ("Salumeria Partenope", "Via dei Tribunali 120", "Napoli", "80138", "AG02"),
    ("Caseificio Aversano", "Via Roma 88", "Aversa", "81031", "AG02"),
    ("Market Costiera S.r.l.", "Corso Italia 54", "Sorrento", "80067", "AG02"),
    ("Bar Pasticceria Mary", "Corso Garibaldi 31", "Salerno", "84122", "AG02"),
    ("Hotel Belvedere S.r.l.", "Via Cristoforo Colombo 30", "Positano", "84017", "AG02"),
    ("Osteria del Ponte", "Via del Corso 210", "Roma", "00186", "AG03"),
    ("Alimentari Trastevere", "Via della Lungaretta 67", "Roma", "00153", "AG03"),
    ("Ristorante La Pergola S.r.l.", "Viale Trastevere 101", "Roma", "00153", "AG03"),
    ("Mini Market Prati", "Via Cola di Rienzo 140", "Roma", "00192", "AG03"),
    ("Bottega Toscana", "Via dei Calzaiuoli 22", "Firenze", "50122", "AG03"),
    ("Forno Pisano di Neri", "Borgo Stretto 14", "Pisa", "56127", "AG03"),
    ("Cantina Sociale Chianti", "Via Chiantigiana 5", "Greve in Chianti", "50022", "AG03"),
    ("Emporio Adriatico", "Corso Cavour 60", "Bari", "70121", None),
]
_COORDINATES = {1: (45.4641, 9.1896), 7: (40.8427, 14.2486), 13: (41.9003, 12.4763)}
ACCOUNTS = [
    {
        "AccountCode": f"CLI-{n:04d}",
        "CompanyName": name,
        "AgentCode": agent,
        "Street": street,
        "City": city,
        "PostalCode": postal_code,
        "Country": "IT",
        "Latitude": _COORDINATES.get(n, (None, None))[0],
        "Longitude": _COORDINATES.get(n, (None, None))[1],
    }
    for n, (name, street, city, postal_code, agent) in enumerate(_CUSTOMERS, start=1)
]

# Orders the ERP took itself (by phone, at the counter): they are in the ERP, never exported to it.
ORDERS = [
    {"OrderNumber": "ERP-2026-0001", "AccountCode": "CLI-0001", "AgentCode": "AG01", "OrderDate": date(2026, 11, 2)},
    {"OrderNumber": "ERP-2026-0002", "AccountCode": "CLI-0007", "AgentCode": "AG02", "OrderDate": date(2026, 11, 9)},
]
ORDER_LINES = [
    {"OrderNumber": "ERP-2026-0001", "LineNumber": 1, "ItemCode": "ART-0001", "Quantity": 48.0, "Price": 0.89},
    {"OrderNumber": "ERP-2026-0001", "LineNumber": 2, "ItemCode": "ART-0006", "Quantity": 12.0, "Price": 8.90},
    {"OrderNumber": "ERP-2026-0002", "LineNumber": 1, "ItemCode": "ART-0013", "Quantity": 30.0, "Price": 2.66},
    {"OrderNumber": "ERP-2026-0002", "LineNumber": 2, "ItemCode": "ART-0008", "Quantity": 60.0, "Price": 0.99},
    {"OrderNumber": "ERP-2026-0002", "LineNumber": 3, "ItemCode": "ART-0023", "Quantity": 6.0, "Price": 6.21},
]


def build_demo_erp(path: Path) -> str:
    """The SQLAlchemy URL of the demo ERP at `path`, built with its data when the file does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed: a start interrupted halfway leaves no half-filled ERP to be kept as it is.
        building = path.with_name(path.name + ".building")
        building.unlink(missing_ok=True)
        engine = sa.create_engine(f"sqlite:///{building}")
        try:
            erp.METADATA.create_all(engine)
            with engine.begin() as conn:
                for table, rows in (
                    (erp.AGENT, AGENTS), (erp.ITEM, ITEMS), (erp.ITEM_OFFLINE_AVAILABILITY, ITEM_OFFLINE_AVAILABILITY),
                    (erp.PRICE, PRICES), (erp.ACCOUNT, ACCOUNTS), (erp.ORDER, ORDERS), (erp.ORDER_LINE, ORDER_LINES),
                ):
                    conn.execute(sa.insert(table), rows)
        finally:
            engine.dispose()
        building.replace(path)
    return f"sqlite:///{path}"
